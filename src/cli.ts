#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { beginShutdown, runAllCleanups, sweepOrphanTempDirs, takeInterrupt } from './cleanup.js';
import { printableText } from './report/printable.js';
import { analyzeImage, renderAnalysis, type OutputFormat } from './commands/analyze.js';
import { renderBenchMarkdown, renderBenchText } from './bench/bench-report.js';
import { parseThreshold } from './bench/thresholds.js';
import { defaultBenchNode, NODE_KINDS, type NodeKind } from './bench/bench-node.js';
import { benchCommand, fleetBenchCommand } from './commands/bench.js';
import { buildSlimImage } from './commands/build.js';
import { parseOutput } from './build/outputs.js';
import { fleetBuildCommand } from './commands/fleet.js';
import { fleetFailure } from './fleet/fleet-report.js';
import { recordSession } from './commands/record.js';
import { platformPorts } from './recording/parse.js';
import { PLATFORMS, type Platform } from './recording/types.js';
import { verifyCommand } from './commands/verify.js';
import { parseGroupOverride } from './plan/grouping.js';
import { renderBuildMarkdown, renderBuildText } from './report/build-report.js';
import { renderFleetBenchMarkdown, renderFleetBenchText } from './report/fleet-bench-report.js';
import { renderFleetMarkdown, renderFleetText } from './report/fleet-report.js';
import { ExitCode, SlimError, usageError } from './errors.js';
import { LAYER_COMPRESSIONS, type LayerCompression } from './image/layer-writer.js';
import { VERSION } from './version.js';
import { ENGINE_KINDS, selectEngine, type EngineKind } from './docker/engine.js';
import { isModuleName } from './jvm/module-choice.js';

interface AnalyzeFlags {
  json?: boolean;
  format?: string;
  top: number;
  depth: number;
  record?: string;
  profileOut?: string;
  include: string[];
  exclude: string[];
  includeExe: string[];
}

interface BenchFlags {
  record?: string;
  node?: NodeKind;
  fleet?: string;
  rounds?: number;
  warmRounds?: number;
  bandwidth?: string;
  registry?: string;
  updateFrom?: string;
  baseline?: string;
  failIf: string[];
  reportOut?: string;
  json?: boolean;
  format?: string;
}

interface BuildFlags {
  record: string;
  tlsVerify: string;
  compression: LayerCompression;
  estargzRecordOut?: string;
  prefetchListOut?: string;
  tag?: string;
  output: string[];
  verify: boolean;
  group: string[];
  baseLayers: number;
  include: string[];
  exclude: string[];
  includeExe: string[];
  profileOut?: string;
  seccompOut?: string;
  jvmJlink?: boolean;
  jvmAddModules: string[];
  json?: boolean;
  format?: string;
}

let verbose = false;

/** A report on stdout; text and Markdown show the image's names with their control characters escaped (JSON escapes its own). */
function writeReport(text: string, format: string): void {
  process.stdout.write(format === 'json' ? text : printableText(text));
}

/** Step lines on stderr when it is a terminal (or with --verbose); quiet in CI logs and pipes. */
function progressLog(line: string): void {
  if (verbose || (process.stderr.isTTY && !process.env.CI)) process.stderr.write(`slim: ${printableText(line)}\n`);
}

interface RecordFlags {
  output: string;
  platform: Platform;
  duration?: number;
  listenPort: number;
  port?: number;
  portEnv?: string;
  readyPath: string;
  readyTimeout: number;
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function formatOf(options: { json?: boolean; format?: string }): OutputFormat {
  return options.json ? 'json' : ((options.format ?? 'table') as OutputFormat);
}

function buildProgram(): Command {
  const program = new Command('slim')
    .description('Make container images start fast on serverless platforms.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .option('-v, --verbose', 'print each step on stderr even when it is not a terminal')
    .addOption(new Option('--engine <kind>', 'the engine that runs the images: docker (DOCKER_HOST or /var/run/docker.sock) or podman (its API service: /run/podman/podman.sock, or $XDG_RUNTIME_DIR/podman/podman.sock rootless)').choices([...ENGINE_KINDS]))
    .hook('preAction', (command) => {
      verbose = Boolean(command.opts().verbose);
      selectEngine(command.opts().engine as EngineKind | undefined);
    })
    .exitOverride();

  program
    .command('analyze')
    .description('explain where an image\'s bytes go: layers, wasted bytes, largest paths, kinds of files')
    .argument('<image>', 'an engine reference, docker-archive:PATH[:TAG], oci:PATH[:REF], or a path to an image tar or OCI layout')
    .option('--json', 'print JSON (same as --format json)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'markdown']).default('table'))
    .option('--top <n>', 'rows in the largest-files/directories and wasted lists', positiveInt, 10)
    .option('--depth <n>', 'deepest directory level listed among the largest directories', positiveInt, 3)
    .option('--record <file>', 'run the function with this recording under the tracer and report what it uses')
    .option('--profile-out <file>', 'with --record: write every kept path and why to this JSON file')
    .option('--include <glob>', 'with --record: keep paths matching this glob (repeatable)', collect, [])
    .option('--exclude <glob>', 'with --record: drop paths matching this glob (repeatable)', collect, [])
    .option('--include-exe <name>', 'with --record: keep this program (found on the image PATH) and what it needs (repeatable)', collect, [])
    .action(async (image: string, options: AnalyzeFlags) => {
      const traceOnly = options.profileOut || options.include.length || options.exclude.length || options.includeExe.length;
      if (!options.record && traceOnly) throw usageError('--profile-out, --include, --exclude and --include-exe need --record FILE');
      const trace = options.record
        ? { recordingFile: options.record, profileOut: options.profileOut, include: options.include, exclude: options.exclude, includeExe: options.includeExe }
        : undefined;
      const analysis = await analyzeImage(image, { top: options.top, depth: options.depth }, trace, progressLog);
      writeReport(renderAnalysis(analysis, formatOf(options)), formatOf(options));
    });

  program
    .command('build')
    .description('trace a run, write a minimal image layered system → dependencies → app, and verify it')
    .argument('<image>', 'an image in the engine (Docker or Podman)')
    .requiredOption('--record <file>', 'the recording to trace and verify with')
    .option('--tag <name:tag>', 'tag for the slim image in the engine (default: <name>:<tag>-slim)')
    .option('--output <sink>', 'also write the image to docker-archive:FILE, oci:DIR[:REF] or registry:HOST/REPO:TAG (repeatable; without --tag the engine keeps no copy)', collect, [])
    .addOption(new Option('--tls-verify <bool>', 'verify the TLS certificate of a registry output; false also allows plain HTTP (a local registry)').choices(['true', 'false']).default('true'))
    .addOption(new Option('--compression <kind>', 'layer compression: gzip pulls everywhere; zstd pulls faster on containerd (not dockerd 20.10); estargz lazy-pulls, what the run reads first coming first').choices([...LAYER_COMPRESSIONS]).default('gzip'))
    .option('--no-verify', 'skip replaying the recording against both images')
    .option('--group <glob=group>', 'put paths matching the glob in the system, deps or app layer (repeatable)', collect, [])
    .option('--base-layers <n>', 'layers at the bottom of the original that come from its base image', positiveInt, 1)
    .option('--include <glob>', 'keep paths matching this glob (repeatable)', collect, [])
    .option('--exclude <glob>', 'drop paths matching this glob (repeatable)', collect, [])
    .option('--include-exe <name>', 'keep this program (found on the image PATH) and what it needs (repeatable)', collect, [])
    .option('--profile-out <file>', 'write every kept path, why, and its layer group to this JSON file')
    .option('--seccomp-out <file>', 'trace every syscall and write a Docker seccomp profile allowing them; verification runs the slim image under it')
    .option('--estargz-record-out <file>', 'write the files the run read, in order, as JSON lines {"path","layerIndex"} (nerdctl image convert --estargz-record-in)')
    .option('--prefetch-list-out <file>', 'write the files the run read, in order, one absolute path per line (for Nydus or SOCI prefetch)')
    .option('--jvm-jlink', "replace the Java runtime's modules with a jlink'd runtime of only the modules the run used (Debian's openjdk)")
    .option('--jvm-add-modules <modules>', 'with --jvm-jlink: also link these modules (comma-separated; repeatable)', collect, [])
    .option('--json', 'print JSON (same as --format json)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'markdown']).default('table'))
    .action(async (image: string, options: BuildFlags) => {
      const extraModules = options.jvmAddModules.flatMap((m) => m.split(',')).map((m) => m.trim()).filter(Boolean);
      if (extraModules.length > 0 && !options.jvmJlink) throw usageError('--jvm-add-modules needs --jvm-jlink');
      const badModule = extraModules.find((m) => !isModuleName(m));
      if (badModule !== undefined) throw usageError(`--jvm-add-modules: ${JSON.stringify(badModule)} is not a module name`, 'give names such as java.sql,jdk.crypto.ec');
      const groups = options.group.map((g) => {
        const parsed = parseGroupOverride(g);
        if (!parsed) throw usageError(`--group ${g}: use GLOB=system, GLOB=deps or GLOB=app`);
        return parsed;
      });
      const report = await buildSlimImage(
        image,
        {
          recordingFile: options.record,
          tag: options.tag,
          outputs: options.output.map(parseOutput),
          verify: options.verify,
          groups,
          baseLayers: options.baseLayers,
          include: options.include,
          exclude: options.exclude,
          includeExe: options.includeExe,
          profileOut: options.profileOut,
          seccompOut: options.seccompOut,
          tlsVerify: options.tlsVerify !== 'false',
          compression: options.compression,
          estargzRecordOut: options.estargzRecordOut,
          prefetchListOut: options.prefetchListOut,
          jvmJlink: options.jvmJlink ? { extraModules } : undefined,
        },
        progressLog,
      );
      const format = formatOf(options);
      writeReport(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'markdown' ? renderBuildMarkdown(report) : renderBuildText(report), format);
    });

  const fleet = program.command('fleet').description('slim many functions together, so a node pulls their shared runtime once');
  fleet
    .command('build')
    .description('trace every function of a fleet file, plan layers they share, and write, verify and tag each image')
    .argument('<fleet-file>', 'the fleet file (JSON): {"version": 1, "functions": [{"image", "recording", ...}], "layerBudget": 8}')
    .option('--state <file>', 'pin the shared layers published so far: read it if it exists, and write it (commit it like a lockfile)')
    .option('--repack', 'with --state: plan the shared layers from scratch instead of reusing the pinned ones')
    .option('--no-verify', 'skip replaying each recording against its original and its slim image')
    .addOption(new Option('--compression <kind>', 'layer compression: gzip or zstd (the state file pins it)').choices([...LAYER_COMPRESSIONS]).default('gzip'))
    .option('--json', 'print JSON (same as --format json)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'markdown']).default('table'))
    .action(async (fleetFile: string, options: { state?: string; repack?: boolean; verify: boolean; compression: LayerCompression; json?: boolean; format?: string }) => {
      const report = await fleetBuildCommand(fleetFile, { stateFile: options.state, repack: Boolean(options.repack), verify: options.verify, compression: options.compression, log: progressLog });
      const format = formatOf(options);
      writeReport(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'markdown' ? renderFleetMarkdown(report) : renderFleetText(report), format);
      const failure = fleetFailure(report);
      if (failure) throw failure;
    });

  program
    .command('verify')
    .description('replay a recording against the original and the slim image and fail on any difference')
    .argument('<original>', 'the original image in the engine')
    .argument('<slim>', 'the slim image in the engine')
    .requiredOption('--record <file>', 'the recording to replay')
    .option('--seccomp <file>', 'run the slim image (only it) under this Docker seccomp profile')
    .option('--json', 'print JSON')
    .action(async (original: string, slimImage: string, options: { record: string; seccomp?: string; json?: boolean }) => {
      const result = await verifyCommand(original, slimImage, options.record, { seccompFile: options.seccomp });
      if (options.json) {
        const requests = result.requests.map((r) => ({ name: r.request.name, differences: r.differences, originalMs: r.originalMs, slimMs: r.slimMs }));
        process.stdout.write(`${JSON.stringify({ ok: result.ok, slimFailure: result.slimFailure ?? null, requests }, null, 2)}\n`);
      } else {
        writeReport(result.report, 'table');
      }
      if (!result.ok) throw new SlimError(result.slimFailure ? 'verification failed: the slim image could not be replayed' : 'verification failed: the slim image answers differently');
    });

  program
    .command('bench')
    .description('measure size, cold pull through a real registry, first-request latency and update bytes, before and after')
    .argument('[images...]', 'ORIGINAL [SLIM], images in the engine (or --fleet FILE)')
    .option('--record <file>', 'the recording whose first request times the start')
    .option('--fleet <file>', 'a fleet file: start its functions one after another on one node, as originals, per-image slim images (singleTag) and fleet images')
    .option('--rounds <n>', 'cold pulls and starts per image (with --fleet: per sequence; default 3)', positiveInt)
    .option('--warm-rounds <n>', 'warm starts per image after the cold rounds, with every image cached, alternating which goes first (default 10)', positiveInt)
    .option('--bandwidth <rate>', 'shape the registry link, e.g. 200mbit (a network namespace slim creates and removes)')
    .option('--registry <host:port>', 'use this registry instead of starting one')
    .addOption(new Option('--node <kind>', 'the node that pulls and runs the images: a throwaway dockerd, a throwaway Podman service, containerd, or containerd with slim\'s lazy-pulling stargz snapshotter (default: docker, or podman when the engine is Podman)').choices([...NODE_KINDS]))
    .option('--update-from <v1[,slim-v1]>', 'previous versions: time pulling the images when these are present (with --fleet: the previous fleet file)')
    .option('--baseline <file>', 'an earlier --json report: show deltas against it')
    .option('--fail-if <rule>', 'with --baseline: exit 1 when a metric grows, e.g. size>+5% or coldstart>+10% (repeatable)', collect, [])
    .option('--report-out <file>', 'also write the JSON report to this file')
    .option('--json', 'print JSON (same as --format json)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'markdown']).default('table'))
    .action(async (images: string[], options: BenchFlags) => {
      const format = formatOf(options);
      if (options.fleet !== undefined) {
        if (images.length > 0 || options.record) throw usageError('--fleet takes the images and recordings from the fleet file: give no IMAGE and no --record');
        if (options.baseline || options.failIf.length) throw usageError('--baseline and --fail-if compare single-image reports; they do not apply to --fleet');
        if (options.warmRounds !== undefined) throw usageError('--warm-rounds applies to ORIGINAL [SLIM]; --fleet times each function warm once per sequence');
        const node = options.node ?? (await defaultBenchNode());
        const report = await fleetBenchCommand(options.fleet, { rounds: options.rounds ?? 3, node, bandwidth: options.bandwidth, registry: options.registry, updateFrom: options.updateFrom, reportOut: options.reportOut, log: progressLog });
        writeReport(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'markdown' ? renderFleetBenchMarkdown(report) : renderFleetBenchText(report), format);
        return;
      }
      if (!options.record) throw usageError("required option '--record <file>' not specified");
      const node = options.node ?? (await defaultBenchNode());
      const report = await benchCommand(images, {
        recordingFile: options.record,
        node,
        rounds: options.rounds ?? 5,
        warmRounds: options.warmRounds ?? 10,
        bandwidth: options.bandwidth,
        registry: options.registry,
        updateFrom: options.updateFrom,
        baselineFile: options.baseline,
        thresholds: options.failIf.map(parseThreshold),
        reportOut: options.reportOut,
        log: progressLog,
      });
      writeReport(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'markdown' ? renderBenchMarkdown(report) : renderBenchText(report), format);
      const failed = report.thresholds.filter((t) => t.failed);
      if (failed.length) throw new SlimError(`${failed.length} --fail-if rule${failed.length > 1 ? 's' : ''} failed: ${failed.map((t) => t.threshold.text).join(', ')}`);
    });

  program
    .command('record')
    .description('run the function and record every request sent through a local proxy, until Ctrl-C or --duration')
    .argument('<image>', 'an image in the engine (Docker or Podman)')
    .requiredOption('-o, --output <file>', 'where to write the recording (JSON)')
    .option('--duration <seconds>', 'stop recording after this many seconds', positiveInt)
    .option('--listen-port <port>', 'port of the recording proxy on 127.0.0.1 (0: any free port)', portNumber, 0)
    .addOption(new Option('--platform <name>', "the function's contract: http, fc (Function Compute), cloudrun, or lambda (it polls slim's Runtime API; send events to the emulator's invoke path)").choices([...PLATFORMS]).default('http'))
    .option('--port <port>', "port the function listens on inside the container (default: the platform's, 9000; cloudrun 8080)", portNumber)
    .option('--port-env <names>', "comma-separated environment variables that pass the port to the function (default: the platform's: PORT,FC_SERVER_PORT; fc FC_SERVER_PORT; cloudrun PORT)")
    .option('--ready-path <path>', 'HTTP path that answers once the function is up', '/')
    .option('--ready-timeout <seconds>', 'how long to wait for the function to come up', positiveInt, 60)
    .action(async (image: string, options: RecordFlags) => {
      const defaults = platformPorts(options.platform);
      const result = await recordSession(image, {
        output: options.output,
        platform: options.platform,
        durationS: options.duration,
        listenPort: options.listenPort,
        port: options.port ?? defaults.port,
        portEnv: options.portEnv === undefined ? defaults.portEnv : options.portEnv.split(',').map((s) => s.trim()).filter(Boolean),
        readyPath: options.readyPath,
        readyTimeoutMs: options.readyTimeout * 1000,
        log: (line) => process.stderr.write(`slim: ${printableText(line)}\n`),
      });
      process.stderr.write(`slim: wrote ${result.requests} ${options.platform === 'lambda' ? 'events' : 'requests'} to ${result.file}\n`);
    });

  return program;
}

function report(err: unknown): number {
  if (err instanceof SlimError) {
    process.stderr.write(`slim: ${printableText(err.message)}\n`);
    if (err.hint) process.stderr.write(`      ${printableText(err.hint)}\n`);
    return err.exitCode;
  }
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : ExitCode.usage;
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`slim: unexpected error: ${printableText(message)}\n`);
  if (process.env.SLIM_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return ExitCode.runtime;
}

async function main(argv: string[]): Promise<number> {
  let stopping = false;
  /** Cleans up and exits at once: on a signal, or when the reader of our output went away. */
  const stop = (exitCode: number, message?: string) => {
    if (stopping) return;
    stopping = true;
    beginShutdown();
    if (message) process.stderr.write(message);
    void runAllCleanups()
      .then((failures) => {
        for (const failure of failures) process.stderr.write(`slim: cleanup failed: ${failure}\n`);
      })
      .finally(() => process.exit(exitCode));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping && takeInterrupt()) return;
    stop(ExitCode.interrupted, `\nslim: ${signal}: cleaning up\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // A parent that died (or `| head`) closes our pipes: that must not skip the cleanup. Errors on stderr
  // have nowhere to go and are dropped; a closed stdout ends the run.
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    stop(err.code === 'EPIPE' ? ExitCode.ok : ExitCode.runtime);
  });
  try {
    await sweepOrphanTempDirs((line) => process.stderr.write(`slim: ${printableText(line)}\n`));
    await buildProgram().parseAsync(argv);
    return ExitCode.ok;
  } catch (err) {
    return report(err);
  } finally {
    const failures = await runAllCleanups();
    for (const failure of failures) process.stderr.write(`slim: cleanup failed: ${failure}\n`);
  }
}

process.exitCode = await main(process.argv);
