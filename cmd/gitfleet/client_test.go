package main

import (
	"testing"

	"github.com/gitfleet/gitfleet/config"
)

func TestBaseURL(t *testing.T) {
	plain := &config.Config{Listen: "0.0.0.0:9090"}
	withTLS := &config.Config{Listen: "10.0.0.5:9090", API: config.API{TLS: &config.APITLS{CertFile: "c", KeyFile: "k"}}}
	tests := []struct {
		addr    string
		c       *config.Config
		want    string
		wantErr bool
	}{
		{"", plain, "http://127.0.0.1:9090", false},
		{"", &config.Config{Listen: "[::]:9090"}, "http://[::1]:9090", false},
		{"", &config.Config{Listen: ":9090"}, "http://127.0.0.1:9090", false},
		{"", withTLS, "https://10.0.0.5:9090", false},
		{"127.0.0.1:1", withTLS, "http://127.0.0.1:1", false},
		{"https://gitfleet.example.com:9090/", nil, "https://gitfleet.example.com:9090", false},
		{"http://[::1]:9090", nil, "http://[::1]:9090", false},
		{"ftp://h:1", nil, "", true},
		{"https://h", nil, "", true},
		{"9090", nil, "", true},
	}
	for _, tt := range tests {
		got, err := baseURL(tt.addr, tt.c)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("baseURL(%q) = %q, %v; want %q (error %v)", tt.addr, got, err, tt.want, tt.wantErr)
		}
	}
}
