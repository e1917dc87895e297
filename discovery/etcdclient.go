package discovery

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// clientConfig is the etcd client configuration of an etcd source; it
// reads the TLS and password files and says which one failed. It must do
// what cluster's (unexported) Config.clientConfig does, so that both etcd
// clients of the daemon read the same settings the same way; the tests
// are the same as cluster's (TestClientConfigReadsFilesAndNamesTheBadOne).
func clientConfig(e EtcdConfig) (clientv3.Config, error) {
	cc := clientv3.Config{
		Endpoints:            e.Endpoints,
		DialTimeout:          e.Timeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: e.Timeout,
		Username:             e.Username,
		Logger:               zap.NewNop(),
	}
	if e.PasswordFile != "" {
		data, err := os.ReadFile(e.PasswordFile)
		if err != nil {
			return cc, fmt.Errorf("discovery.etcd.passwordFile: %w", err)
		}
		cc.Password = strings.TrimRight(string(data), "\r\n")
	}
	if t := e.TLS; t != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return cc, fmt.Errorf("discovery.etcd.tls.caFile: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return cc, fmt.Errorf("discovery.etcd.tls.caFile %s: no PEM certificate", t.CAFile)
			}
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return cc, fmt.Errorf("discovery.etcd.tls.certFile: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		cc.TLS = tc
	}
	return cc, nil
}
