package core

import (
	"fmt"
	"strconv"
	"strings"
)

// Host is one entry of the host list: "host", "user@host", "host:port",
// "user@[v6addr]:port". User and Port are zero when the entry does not set them;
// the SSH settings fill them in.
type Host struct {
	Name string `json:"name"` // host name or address, without brackets
	User string `json:"user,omitempty"`
	Port int    `json:"port,omitempty"`
}

// ParseHost parses one host entry.
func ParseHost(s string) (Host, error) {
	var h Host
	rest := strings.TrimSpace(s)
	if rest == "" {
		return h, fmt.Errorf("empty host name")
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		h.User, rest = rest[:i], rest[i+1:]
		if h.User == "" {
			return h, fmt.Errorf("host %q: empty user before @", s)
		}
	}
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.Index(rest, "]")
		if end < 0 {
			return h, fmt.Errorf("host %q: missing ] after IPv6 address", s)
		}
		h.Name, rest = rest[1:end], rest[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return h, fmt.Errorf("host %q: unexpected %q after ]", s, rest)
			}
			p, err := parsePort(s, rest[1:])
			if err != nil {
				return h, err
			}
			h.Port = p
		}
	case strings.Count(rest, ":") > 1: // bare IPv6 address, no port
		h.Name = rest
	case strings.Contains(rest, ":"):
		i := strings.Index(rest, ":")
		p, err := parsePort(s, rest[i+1:])
		if err != nil {
			return h, err
		}
		h.Name, h.Port = rest[:i], p
	default:
		h.Name = rest
	}
	if h.Name == "" {
		return h, fmt.Errorf("host %q: empty host name", s)
	}
	if strings.ContainsAny(h.Name, " \t/\\'\"`$;&|<>(){}*?!") {
		return h, fmt.Errorf("host %q: invalid character in host name", s)
	}
	// ssh and rsync would read a leading "-" of "host" or "user@host" as an
	// option (-oProxyCommand=... runs a command): data must stay data.
	if strings.HasPrefix(h.Name, "-") || strings.HasPrefix(h.User, "-") {
		return h, fmt.Errorf("host %q: a host name or user must not start with \"-\"", s)
	}
	return h, nil
}

func parsePort(entry, p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || !PortRange.Contains(n) {
		return 0, fmt.Errorf("host %q: invalid port %q", entry, p)
	}
	return n, nil
}

// String gives the entry back in the form it was written ("user@host:port").
func (h Host) String() string {
	s := h.Name
	if strings.Contains(s, ":") && h.Port != 0 {
		s = "[" + s + "]"
	}
	if h.User != "" {
		s = h.User + "@" + s
	}
	if h.Port != 0 {
		s += ":" + strconv.Itoa(h.Port)
	}
	return s
}

// RsyncTarget is the host part of an rsync destination: "user@host" or "host",
// IPv6 addresses in brackets; the port travels in --rsh.
func (h Host) RsyncTarget() string {
	s := h.Name
	if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	if h.User != "" {
		s = h.User + "@" + s
	}
	return s
}
