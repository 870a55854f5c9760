// daprdev runs Dapr's daprd, placement and scheduler (Dapr v1.18.3, from the Go module proxy) as one binary for the
// e2e suites: `daprdev daprd|placement|scheduler <their usual flags>`.
//
// Why our own main: Dapr's cmd/daprd registers components only under the `stablecomponents`/`allcomponents` build
// tags, which compile every cloud SDK. This main registers just the state stores the tests use (in-memory, sqlite,
// redis), and no name resolver: workflows reach other apps through actors and placement, not service invocation
// (daprd logs once that it found no mdns resolver). Placement and scheduler run without their healthz HTTP servers, which in 1.18.3 listen on every interface
// whatever --healthz-listen-address says; readiness is read from their gRPC ports instead, so all of it stays on
// loopback.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.opencensus.io/stats/view"

	inmemory "github.com/dapr/components-contrib/state/in-memory"
	"github.com/dapr/components-contrib/state/redis"
	"github.com/dapr/components-contrib/state/sqlite"
	daprdopts "github.com/dapr/dapr/cmd/daprd/options"
	placementopts "github.com/dapr/dapr/cmd/placement/options"
	scheduleropts "github.com/dapr/dapr/cmd/scheduler/options"
	"github.com/dapr/dapr/pkg/buildinfo"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	stateLoader "github.com/dapr/dapr/pkg/components/state"
	"github.com/dapr/dapr/pkg/healthz"
	"github.com/dapr/dapr/pkg/metrics"
	"github.com/dapr/dapr/pkg/modes"
	"github.com/dapr/dapr/pkg/placement"
	placementmon "github.com/dapr/dapr/pkg/placement/monitoring"
	"github.com/dapr/dapr/pkg/runtime"
	"github.com/dapr/dapr/pkg/runtime/registry"
	schedulermon "github.com/dapr/dapr/pkg/scheduler/monitoring"
	schedulerserver "github.com/dapr/dapr/pkg/scheduler/server"
	"github.com/dapr/dapr/pkg/security"
	"github.com/dapr/kit/concurrency"
	"github.com/dapr/kit/logger"
	"github.com/dapr/kit/signals"
)

var log = logger.NewLogger("daprdev")

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: daprdev daprd|placement|scheduler|version [flags]")
		os.Exit(2)
	}
	args := os.Args[2:]
	if os.Getenv("DAPRDEV_EXIT_WITH_PARENT") == "1" {
		exitWithParent()
	}
	var err error
	switch os.Args[1] {
	case "daprd":
		err = runDaprd(args)
	case "placement":
		err = runPlacement(args)
	case "scheduler":
		err = runScheduler(args)
	case "version":
		fmt.Println(buildinfo.Version())
	default:
		err = fmt.Errorf("unknown command %q: want daprd, placement, scheduler or version", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

// exitWithParent ends the process when the process that started it has gone (it is re-parented), so a test run that
// is killed never leaves a daprd, placement or scheduler behind.
func exitWithParent() {
	parent := os.Getppid()
	go func() {
		for range time.Tick(500 * time.Millisecond) {
			if os.Getppid() != parent {
				log.Warnf("parent process %d is gone; exiting", parent)
				os.Exit(3)
			}
		}
	}()
}

func runDaprd(args []string) error {
	stateLoader.DefaultRegistry.RegisterComponent(inmemory.NewInMemoryStateStore, "in-memory")
	stateLoader.DefaultRegistry.RegisterComponent(sqlite.NewSQLiteStateStore, "sqlite", "sqlite3")
	stateLoader.DefaultRegistry.RegisterComponent(redis.NewRedisStateStore, "redis")

	opts, err := daprdopts.New(args)
	if err != nil {
		return err
	}
	opts.Logger.SetAppID(opts.AppID)
	if err := logger.ApplyOptionsToLoggers(&opts.Logger); err != nil {
		return err
	}
	log.Infof("daprd %s", buildinfo.Version())

	hz := healthz.New()
	reg := registry.NewOptions().
		WithStateStores(stateLoader.DefaultRegistry).
		WithNameResolutions(nrLoader.DefaultRegistry)
	secOpts := security.Options{
		SentryAddress:           opts.SentryAddress,
		ControlPlaneTrustDomain: opts.ControlPlaneTrustDomain,
		ControlPlaneNamespace:   opts.ControlPlaneNamespace,
		TrustAnchors:            opts.TrustAnchors,
		AppID:                   opts.AppID,
		MTLSEnabled:             opts.EnableMTLS,
		Mode:                    modes.DaprMode(opts.Mode),
		Healthz:                 hz,
	}
	return withSecurity(secOpts, func(ctx context.Context, sec security.Handler) error {
		rt, err := runtime.FromConfig(ctx, &runtime.Config{
			AppID:                         opts.AppID,
			ActorsService:                 opts.ActorsService,
			ActorsDisseminationTimeout:    opts.ActorsDisseminationTimeout,
			HotReloadReconcileInterval:    opts.HotReloadReconcileInterval,
			RemindersService:              opts.RemindersService,
			SchedulerAddress:              opts.SchedulerAddress,
			SchedulerStreams:              opts.SchedulerJobStreams,
			AllowedOrigins:                opts.AllowedOrigins,
			ResourcesPath:                 opts.ResourcesPath,
			ControlPlaneAddress:           opts.ControlPlaneAddress,
			AppProtocol:                   opts.AppProtocol,
			Mode:                          opts.Mode,
			DaprHTTPPort:                  opts.DaprHTTPPort,
			DaprInternalGRPCPort:          opts.DaprInternalGRPCPort,
			DaprInternalGRPCListenAddress: opts.DaprInternalGRPCListenAddress,
			DaprAPIGRPCPort:               opts.DaprAPIGRPCPort,
			DaprAPIListenAddresses:        opts.DaprAPIListenAddresses,
			DaprPublicPort:                opts.DaprPublicPort,
			DaprPublicListenAddress:       opts.DaprPublicListenAddress,
			ApplicationPort:               opts.AppPort,
			ProfilePort:                   opts.ProfilePort,
			EnableProfiling:               opts.EnableProfiling,
			AppMaxConcurrency:             opts.AppMaxConcurrency,
			EnableMTLS:                    opts.EnableMTLS,
			SentryAddress:                 opts.SentryAddress,
			MaxRequestSize:                opts.MaxRequestSize,
			ReadBufferSize:                opts.ReadBufferSize,
			UnixDomainSocket:              opts.UnixDomainSocket,
			DaprGracefulShutdownSeconds:   opts.DaprGracefulShutdownSeconds,
			DaprBlockShutdownDuration:     opts.DaprBlockShutdownDuration,
			DisableBuiltinK8sSecretStore:  opts.DisableBuiltinK8sSecretStore,
			EnableAppHealthCheck:          opts.EnableAppHealthCheck,
			AppHealthCheckPath:            opts.AppHealthCheckPath,
			AppHealthProbeInterval:        opts.AppHealthProbeInterval,
			AppHealthProbeTimeout:         opts.AppHealthProbeTimeout,
			AppHealthThreshold:            opts.AppHealthThreshold,
			AppChannelAddress:             opts.AppChannelAddress,
			EnableAPILogging:              opts.EnableAPILogging,
			Config:                        opts.Config,
			DisableInitEndpoints:          opts.DisableInitEndpoints,
			AppBindingOptionsTimeout:      opts.AppBindingOptionsTimeout,
			Metrics: metrics.Options{
				Enabled:       opts.Metrics.Enabled(),
				Log:           log,
				Port:          opts.Metrics.Port(),
				Namespace:     metrics.DefaultMetricNamespace,
				Healthz:       hz,
				ListenAddress: opts.Metrics.ListenAddress(),
				Meter:         view.NewMeter(),
			},
			AppSSL:         opts.AppSSL,
			ComponentsPath: opts.ComponentsPath,
			Registry:       reg,
			Security:       sec,
			Healthz:        hz,
		})
		if err != nil {
			return err
		}
		return rt.Run(ctx)
	})
}

func runPlacement(args []string) error {
	opts, err := placementopts.New(args)
	if err != nil {
		return err
	}
	if err := logger.ApplyOptionsToLoggers(&opts.Logger); err != nil {
		return err
	}
	if err := placementmon.InitMetrics(); err != nil {
		return err
	}
	log.Infof("placement %s", buildinfo.Version())
	hz := healthz.New()
	secOpts := security.Options{
		SentryAddress:           opts.SentryAddress,
		ControlPlaneTrustDomain: opts.TrustDomain,
		ControlPlaneNamespace:   security.CurrentNamespace(),
		TrustAnchorsFile:        &opts.TrustAnchorsFile,
		AppID:                   "dapr-placement",
		MTLSEnabled:             opts.TLSEnabled,
		Mode:                    modes.DaprMode(opts.Mode),
		Healthz:                 hz,
	}
	return withSecurity(secOpts, func(ctx context.Context, sec security.Handler) error {
		p, err := placement.New(placement.Options{
			NodeID:                    opts.RaftID,
			Port:                      opts.PlacementPort,
			ListenAddress:             opts.PlacementListenAddress,
			Security:                  sec,
			Healthz:                   hz,
			KeepAliveTime:             opts.KeepAliveTime,
			KeepAliveTimeout:          opts.KeepAliveTimeout,
			ReplicationFactor:         int64(opts.ReplicationFactor),
			Peers:                     opts.RaftPeers,
			DisseminateTimeout:        opts.DisseminateTimeout,
			DisseminateCoalesceWindow: opts.DisseminateCoalesceWindow,
		})
		if err != nil {
			return err
		}
		return p.Run(ctx)
	})
}

func runScheduler(args []string) error {
	opts, err := scheduleropts.New(args)
	if err != nil {
		return err
	}
	if err := logger.ApplyOptionsToLoggers(&opts.Logger); err != nil {
		return err
	}
	if err := schedulermon.InitMetrics(); err != nil {
		return err
	}
	log.Infof("scheduler %s", buildinfo.Version())
	hz := healthz.New()
	secOpts := security.Options{
		SentryAddress:           opts.SentryAddress,
		ControlPlaneTrustDomain: opts.TrustDomain,
		ControlPlaneNamespace:   security.CurrentNamespace(),
		TrustAnchorsFile:        opts.TrustAnchorsFile,
		AppID:                   "dapr-scheduler",
		MTLSEnabled:             opts.TLSEnabled,
		Mode:                    modes.DaprMode(opts.Mode),
		Healthz:                 hz,
		WriteIdentityToFile:     &opts.IdentityDirectoryWrite,
	}
	return withSecurity(secOpts, func(ctx context.Context, sec security.Handler) error {
		// The server returns nil when it loses leadership or its etcd restarts; it is rebuilt, as upstream does.
		for {
			srv, err := schedulerserver.New(ctx, schedulerserver.Options{
				Port:                           opts.Port,
				ListenAddress:                  opts.ListenAddress,
				OverrideBroadcastHostPort:      opts.OverrideBroadcastHostPort,
				Mode:                           modes.DaprMode(opts.Mode),
				Security:                       sec,
				Healthz:                        hz,
				KubeConfig:                     opts.KubeConfig,
				EtcdEmbed:                      opts.EtcdEmbed,
				EtcdDataDir:                    opts.EtcdDataDir,
				EtcdName:                       opts.ID,
				EtcdInitialCluster:             opts.EtcdInitialCluster,
				EtcdClientPort:                 opts.EtcdClientPort,
				EtcdClientListenAddress:        opts.EtcdClientListenAddress,
				EtcdSpaceQuota:                 opts.EtcdSpaceQuota,
				EtcdCompactionMode:             opts.EtcdCompactionMode,
				EtcdCompactionRetention:        opts.EtcdCompactionRetention,
				EtcdSnapshotCount:              opts.EtcdSnapshotCount,
				EtcdMaxSnapshots:               opts.EtcdMaxSnapshots,
				EtcdMaxWALs:                    opts.EtcdMaxWALs,
				EtcdBackendBatchLimit:          opts.EtcdBackendBatchLimit,
				EtcdBackendBatchInterval:       opts.EtcdBackendBatchInterval,
				EtcdMaxTxnOps:                  opts.EtcdMaxTxnOps,
				EtcdDefragThresholdMB:          opts.EtcdDefragThresholdMB,
				EtcdInitialElectionTickAdvance: opts.EtcdInitialElectionTickAdvance,
				EtcdMetrics:                    opts.EtcdMetrics,
				EtcdClientEndpoints:            opts.EtcdClientEndpoints,
				EtcdClientUsername:             opts.EtcdClientUsername,
				EtcdClientPassword:             opts.EtcdClientPassword,
				Workers:                        opts.Workers,
			})
			if err != nil {
				return err
			}
			if err := srv.Run(ctx); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	})
}

// withSecurity runs fn beside Dapr's security provider (mTLS stays off in the tests) until SIGTERM or SIGINT.
func withSecurity(opts security.Options, fn func(context.Context, security.Handler) error) error {
	ctx := signals.Context()
	provider, err := security.New(ctx, opts)
	if err != nil {
		return err
	}
	return concurrency.NewRunnerManager(provider.Run, func(ctx context.Context) error {
		sec, err := provider.Handler(ctx)
		if err != nil {
			return err
		}
		return fn(ctx, sec)
	}).Run(ctx)
}
