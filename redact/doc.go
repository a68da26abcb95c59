// Package redact removes secrets from text on its way out of the process: one
// Redactor is built from the configuration's secrets and wraps every writer and
// log handler, so no output path can forget them.
package redact
