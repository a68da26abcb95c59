ssh user: 'x', forward_agent: true
