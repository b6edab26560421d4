import { constants } from 'node:os';
import { Command, Errors, Flags } from '@oclif/core';
import { Defaults, resolveConfig } from '../config.js';
import { daemonize } from '../process/daemon.js';
import { ExitCode, ServeError } from '../exit-codes.js';
import { runServer } from '../process/server.js';
import { UdpLimitFlags, checkUdpFlags, udpStarter } from '../udp/supervisor.js';

export default class Serve extends Command {
  static override description = `Serve the files under a directory, read-only, over the ft protocol.

The first line on stdout says where it listens:
  ftserve listening tcp=<host>:<port> udp=<host>:<port>|off pid=<pid> root=<dir>
Logs go to stderr (or --log-file). Exit codes: 0 ok, 1 internal error, 2 bad usage or
configuration, 3 cannot listen, 4 pid file held by a running instance.
Access tokens for --tokens FILE: ftserve token add|list|revoke (see ftserve token --help).
Signed links for --sign-key FILE: ftserve sign (see ftserve sign --help).
Digests ahead of time for --digest-cache DIR: ftserve digest ROOT --digest-cache DIR (see
ftserve digest --help).`;

  static override examples = [
    '<%= config.bin %> --root /srv/files',
    '<%= config.bin %> --root /srv/files --port 0 --fork-per-connection --max-children 16',
    '<%= config.bin %> --root /srv/files --daemon --pid-file /run/ftserve.pid --log-file /var/log/ftserve.log',
  ];

  static override flags = {
    root: Flags.string({ description: 'directory to serve (read-only)', default: Defaults.root }),
    host: Flags.string({
      description: 'address to listen on [default: all interfaces, IPv4 and IPv6]',
    }),
    port: Flags.integer({
      description: 'TCP port (0 picks a free one)',
      default: Defaults.port,
      min: 0,
      max: 65535,
    }),
    workers: Flags.integer({
      description: 'worker processes of the pre-forked pool [default: number of CPUs]',
      min: 1,
      max: 256,
    }),
    'exclusive-accept': Flags.boolean({
      description:
        'wake one idle worker per new connection (EPOLLEXCLUSIVE on the shared socket, Linux) instead of every worker; prefork only',
      default: false,
      allowNo: true,
    }),
    'fork-per-connection': Flags.boolean({
      description: 'one child process per connection instead of a worker pool',
    }),
    'max-children': Flags.integer({
      description: 'with --fork-per-connection: most children at once; beyond it clients get BUSY',
      default: Defaults.maxChildren,
      min: 1,
      max: 4096,
    }),
    'max-connections': Flags.integer({
      description: 'most connections at once',
      default: Defaults.maxConnections,
      min: 1,
    }),
    'max-connections-per-ip': Flags.integer({
      description: 'most connections at once from one client IP',
      default: Defaults.maxConnectionsPerIp,
      min: 1,
    }),
    'max-rate': Flags.string({
      description:
        'most bytes per second the server sends in all, e.g. 100M (k, M, G: powers of 1024; TCP and UDP each)',
      helpValue: 'RATE',
    }),
    'max-rate-per-connection': Flags.string({
      description: 'most bytes per second one TCP connection or UDP transfer is sent, e.g. 10M',
      helpValue: 'RATE',
    }),
    'idle-timeout': Flags.integer({
      description:
        'seconds a client may send nothing, or take none of what we send, before it is closed',
      default: Defaults.idleTimeoutSeconds,
      min: 1,
      max: 86_400,
    }),
    'request-timeout': Flags.integer({
      description:
        'seconds the handshake, and each request frame from its first byte to its last, may take',
      default: Defaults.requestTimeoutSeconds,
      min: 1,
      max: 3600,
    }),
    'max-request-size': Flags.integer({
      description: 'largest request frame in bytes',
      default: Defaults.maxRequestSize,
    }),
    grace: Flags.integer({
      description: 'seconds running transfers may take to finish after SIGTERM/SIGINT',
      default: Defaults.graceSeconds,
      min: 0,
      max: 86_400,
    }),
    'udp-port': Flags.integer({
      description: 'UDP port for ftget --udp (0 picks a free one) [default: the TCP port]',
      min: 0,
      max: 65535,
    }),
    udp: Flags.boolean({
      description: 'also serve over UDP (--no-udp: TCP only)',
      default: true,
      allowNo: true,
    }),
    'udp-max-transfers': Flags.integer({
      description: 'most UDP transfers at once; beyond it clients get BUSY',
      default: UdpLimitFlags.maxTransfers.default,
      min: 1,
      max: UdpLimitFlags.maxTransfers.max,
    }),
    'udp-max-per-address': Flags.integer({
      description: 'most UDP transfers at once from one client address',
      default: UdpLimitFlags.maxPerAddress.default,
      min: 1,
      max: UdpLimitFlags.maxPerAddress.max,
    }),
    'proxy-protocol': Flags.boolean({
      description:
        'behind a load balancer: each connection starts with a PROXY protocol v1 or v2 header naming the client (HAProxy send-proxy-v2, nginx proxy_protocol on); connections without one are refused',
    }),
    'trusted-proxy': Flags.string({
      description:
        'with --proxy-protocol: only these load balancers may connect and send the header (CIDR[,CIDR]; repeatable); others are refused [default: any peer]',
      helpValue: 'CIDR',
      multiple: true,
      multipleNonGreedy: true,
    }),
    dotfiles: Flags.boolean({ description: 'also serve names that start with "."' }),
    tokens: Flags.string({
      description:
        'require an access token for every request, from this file (see "ftserve token --help"; SIGHUP reloads it)',
      helpValue: 'FILE',
    }),
    'sign-key': Flags.string({
      description:
        'serve signed links made with this key (mode 600; see "ftserve sign --help"; SIGHUP reloads it)',
      helpValue: 'FILE',
    }),
    allow: Flags.string({
      description:
        'accept connections only from these addresses (CIDR[,CIDR], IPv4 or IPv6; repeatable)',
      helpValue: 'CIDR',
      multiple: true,
      multipleNonGreedy: true,
    }),
    deny: Flags.string({
      description:
        'refuse connections from these addresses (CIDR[,CIDR]; repeatable; wins over --allow)',
      helpValue: 'CIDR',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'log-file': Flags.string({
      description: 'append logs to this file instead of stderr (SIGHUP reopens it)',
    }),
    'log-format': Flags.string({
      description: 'log line format',
      options: ['text', 'json'],
      default: 'text',
    }),
    inetd: Flags.boolean({
      description: 'serve the one connection open on stdin (inetd, systemd Accept=yes), then exit',
    }),
    daemon: Flags.boolean({ description: 'detach and run in the background (needs --pid-file)' }),
    'pid-file': Flags.string({
      description: 'write the pid here; refuse to start if it names a running ftserve',
    }),
    'digest-cache': Flags.string({
      description:
        'keep chunk digests in this directory (created 0700; not inside --root) across restarts [default: a private temporary directory removed at exit]',
    }),
    'tls-cert': Flags.string({
      description:
        'serve TCP over TLS only, with this PEM certificate (chain allowed; SIGHUP reloads it)',
      helpValue: 'FILE',
    }),
    'tls-key': Flags.string({
      description: 'the PEM private key of --tls-cert',
      helpValue: 'FILE',
    }),
    'tls-min': Flags.string({
      description: 'oldest TLS version accepted [default: 1.3]',
      options: ['1.2', '1.3'],
    }),
    sendfile: Flags.boolean({
      description:
        'send file bodies over plain TCP with sendfile(2), without copying them through the process (--no-sendfile: read them into buffers and write those, like nginx "sendfile off")',
      default: true,
      allowNo: true,
    }),
    version: Flags.version(),
    help: Flags.help(),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve);
    const config = resolveConfig(flags);
    // A bad certificate or key fails here, before anything starts (exit 2).
    if (config.tls !== undefined) (await import('../net/tls.js')).loadSecureContext(config.tls);
    const serverName = `ftserve/${this.config.version}`;
    const udpFlags = {
      enabled: flags.udp,
      port: flags['udp-port'],
      maxTransfers: flags['udp-max-transfers'],
      maxPerAddress: flags['udp-max-per-address'],
    };
    checkUdpFlags(udpFlags);
    const udp = udpStarter(udpFlags);
    let stopSignal: NodeJS.Signals | undefined;
    const code = config.daemon
      ? await daemonize(config, serverName, udpFlags)
      : await runServer(config, {
          serverName,
          ...(udp === undefined ? {} : { udp }),
          onStopSignal: (signal) => (stopSignal = signal),
        });
    // Stopped by Ctrl-C or SIGTERM in the foreground: after the graceful shutdown, die by that
    // signal, so that a shell script or make running ftserve sees a signal death, not success.
    if (code === ExitCode.OK && stopSignal !== undefined) reraise(stopSignal);
    this.exit(code);
  }

  /** One line on stderr and a stable exit code; a stack trace only with DEBUG set. */
  override async catch(
    error: Error & { exitCode?: number; oclif?: { exit?: number } },
  ): Promise<never> {
    if (error instanceof Errors.ExitError) throw error;
    let exit: number;
    let message: string;
    if (error instanceof ServeError) {
      exit = error.exitCode;
      message = error.message;
    } else if (error instanceof Errors.CLIError) {
      // Flag parsing and validation errors.
      exit = ExitCode.USAGE;
      message = `${oneLine(error.message)} (see --help)`;
    } else {
      exit = ExitCode.INTERNAL;
      message = `internal error: ${error.message}`;
    }
    process.stderr.write(`ftserve: ${message}\n`);
    if (process.env['DEBUG'] !== undefined && error.stack !== undefined)
      process.stderr.write(error.stack + '\n');
    throw new Errors.ExitError(exit);
  }
}

/** Dies by `signal` with its default action (128 + its number should it somehow survive). */
function reraise(signal: NodeJS.Signals): never {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  process.exit(128 + constants.signals[signal]);
}

/** oclif's parse errors span lines ("Parsing --port \n\tExpected an integer …"); keep them on one. */
function oneLine(message: string): string {
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('See more help'))
    .join(': ')
    .replace(/\s*:\s*:/g, ':');
}
