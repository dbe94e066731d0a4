// Command slim-stargz-snapshotter is slim's own lazy-pulling snapshotter daemon. It serves the
// containerd snapshots API on a unix socket, backed by the stargz-snapshotter library: layers of an
// eStargz image are mounted with FUSE and fetched from the registry on demand. A containerd of ours
// names it in its config as [proxy_plugins.stargz] type = "snapshot", address = <the -address socket>.
//
// Built offline in GOPATH mode from Debian's golang-github-containerd-stargz-snapshotter-dev (see
// scripts/build-stargz-snapshotter.sh). The library's "service" package is not used: it needs the
// Kubernetes CRI API, which Debian does not package.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/reference"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/stargz-snapshotter/fs"
	"github.com/containerd/stargz-snapshotter/fs/config"
	"github.com/containerd/stargz-snapshotter/fs/source"
	"github.com/containerd/stargz-snapshotter/snapshot"
	retryablehttp "github.com/hashicorp/go-retryablehttp"
	"github.com/moby/sys/mountinfo"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
)

func main() {
	address := flag.String("address", "/run/slim-stargz/stargz.sock", "unix socket to serve the snapshots API on")
	root := flag.String("root", "/var/lib/slim-stargz", "directory for snapshots, FUSE mounts and the layer cache")
	level := flag.String("log-level", "info", "debug, info, warn or error")
	noPrefetch := flag.Bool("no-prefetch", false, "do not prefetch the prioritized files of a layer")
	noBackground := flag.Bool("no-background-fetch", false, "fetch only what is read (no whole-layer download in the background)")
	cleanup := flag.Bool("cleanup", false, "on exit, remove every snapshot (not only the FUSE mounts)")
	plainHTTP := flag.String("plain-http", "", "comma-separated registry hosts (host or host:port) to reach over plain HTTP, besides localhost")
	flag.Parse()
	if err := run(*address, *root, *level, *noPrefetch, *noBackground, *cleanup, strings.Split(*plainHTTP, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "slim-stargz-snapshotter:", err)
		os.Exit(1)
	}
}

// registryHosts resolves a registry host name to where blobs are fetched. Every request goes
// through one retrying HTTP client: the library reads host.Client.Transport directly, so a
// client without a transport would panic on the first mount. Loopback registries, and the hosts
// named with -plain-http (a bench registry behind a shaped link), use plain HTTP.
func registryHosts(plainHTTP []string) source.RegistryHosts {
	retrying := retryablehttp.NewClient()
	retrying.Logger = nil // the library logs failures itself; silence per-request lines
	client := &http.Client{Transport: &retryablehttp.RoundTripper{Client: retrying}}
	authorizer := docker.NewDockerAuthorizer(docker.WithAuthClient(client))
	resolve := docker.ConfigureDefaultRegistries(
		docker.WithClient(client),
		docker.WithAuthorizer(authorizer),
		docker.WithPlainHTTP(func(host string) (bool, error) {
			for _, h := range plainHTTP {
				if h != "" && (host == h || strings.HasPrefix(host, h+":")) {
					return true, nil
				}
			}
			return docker.MatchLocalhost(host)
		}),
	)
	return func(ref reference.Spec) ([]docker.RegistryHost, error) {
		return resolve(ref.Hostname())
	}
}

func run(address, root, level string, noPrefetch, noBackground, cleanup bool, plainHTTP []string) error {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return err
	}
	logrus.SetLevel(lvl)
	ctx := context.Background()

	cfg := config.Config{NoPrometheus: true, NoPrefetch: noPrefetch, NoBackgroundFetch: noBackground}
	fsys, err := fs.NewFilesystem(filepath.Join(root, "stargz"), cfg,
		fs.WithGetSources(source.FromDefaultLabels(registryHosts(plainHTTP))))
	if err != nil {
		return fmt.Errorf("stargz filesystem: %w", err)
	}
	snapshotsDir := filepath.Join(root, "snapshotter")
	sn, err := snapshot.NewSnapshotter(ctx, snapshotsDir, fsys, snapshot.AsynchronousRemove)
	if err != nil {
		return fmt.Errorf("snapshotter: %w", err)
	}

	if err := os.MkdirAll(filepath.Dir(address), 0o700); err != nil {
		return err
	}
	if err := os.Remove(address); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("stale socket: %w", err)
	}
	listener, err := net.Listen("unix", address)
	if err != nil {
		return err
	}
	defer os.Remove(address)
	server := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(server, snapshotservice.FromSnapshotter(sn))

	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	logrus.Infof("serving stargz snapshotter on %s (root %s)", address, root)

	var serveErr error
	select {
	case sig := <-signals:
		logrus.Infof("%v: stopping", sig)
		stopServer(server, 5*time.Second)
	case serveErr = <-served:
	}

	if cleanup {
		// Close unmounts every layer and removes every snapshot directory.
		if err := sn.Close(); err != nil {
			logrus.WithError(err).Warn("closing snapshotter")
		}
	} else {
		unmountLayers(ctx, fsys, filepath.Join(snapshotsDir, "snapshots"))
	}
	return serveErr
}

// stopServer lets calls in flight finish, but no longer than grace.
func stopServer(server *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() { server.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		server.Stop()
	}
}

// unmountLayers unmounts the FUSE layers under dir and keeps the snapshots on disk, so that a
// later start with the same -root mounts them again (the library restores remote snapshots).
func unmountLayers(ctx context.Context, fsys snapshot.FileSystem, dir string) {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		logrus.WithError(err).Warn("reading mounts")
		return
	}
	for _, m := range mounts {
		if !strings.HasPrefix(m.FSType, "fuse") {
			continue
		}
		if err := fsys.Unmount(ctx, m.Mountpoint); err != nil {
			// Not a layer this process mounted: force it off all the same.
			if err := syscall.Unmount(m.Mountpoint, syscall.MNT_FORCE|syscall.MNT_DETACH); err != nil {
				logrus.WithError(err).Warnf("unmounting %s", m.Mountpoint)
				continue
			}
		}
		logrus.Debugf("unmounted %s", m.Mountpoint)
	}
}
