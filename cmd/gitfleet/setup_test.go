package main

import "testing"

func TestPrefixMatch(t *testing.T) {
	tests := []struct {
		url, prefix string
		want        bool
	}{
		{"https://git.example.com/acme/fleet.git", "https://git.example.com/acme", true},
		{"https://git.example.com/acme/fleet.git", "https://git.example.com/acme/", true},
		{"https://git.example.com/acme-tools/fleet.git", "https://git.example.com/acme", false},
		{"https://git.example.com/acme.git", "https://git.example.com/acme", true},
		{"git@git.example.com:acme/fleet.git", "git@git.example.com:", true},
		{"git@git.example.com:acme/fleet.git", "git@git.example.com", true},
		{"https://git.example.com/acme", "https://git.example.com/acme", true},
		{"https://git.example.com/acme", "", false},
	}
	for _, tt := range tests {
		if got := prefixMatch(tt.url, tt.prefix); got != tt.want {
			t.Errorf("prefixMatch(%q, %q) = %v, want %v", tt.url, tt.prefix, got, tt.want)
		}
	}
}
