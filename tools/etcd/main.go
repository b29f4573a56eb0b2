// Command etcd is etcd v3.6's own server entry point, built from the Go module proxy
// for the control-plane test tier (scripts/setup-kubernetes.sh).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
