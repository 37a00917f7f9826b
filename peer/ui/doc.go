// Package ui is the web app a person uses instead of the terminal: server-rendered pages
// (timeline, compose, friends and groups, connections, backups) over the daemon's local
// API, served on loopback by `kith daemon` and opened with `kith ui`.
//
// Security follows the lessons of other local GUIs: loopback unless bound elsewhere on
// purpose (then TLS and a password are required); login with a one-time token that
// `kith ui` writes into the home (only whoever can write the home can mint one); an
// HttpOnly, SameSite=Strict session cookie; a CSRF token on every state-changing request;
// the Host header checked against DNS rebinding; a strict Content-Security-Policy with no
// inline script; and every piece of user text escaped by html/template.
package ui
