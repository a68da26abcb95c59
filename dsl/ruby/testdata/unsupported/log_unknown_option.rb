log file: 'x', rotate: 3
