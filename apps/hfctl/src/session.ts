/**
 * What one command invocation needs from the global flags: the ETCDCTL_*
 * environment, the output printer, and a client, set up in the order
 * etcdctl sets them up (clientConfigFromCmd, then mustClient) so that
 * errors come out the same way.
 */
import { Client, type ClientOptions, type RequestOptions } from '@holdfast/client';
import type { Invocation } from './cli/command.js';
import { CliExit, ExitCode, exitWithError } from './cli/exit.js';
import type { Flag } from './cli/flags.js';
import { err, errLine, out } from './cli/io.js';
import { etcdctlMessage } from './errors.js';
import { capnslogTimestamp } from './format/go.js';
import { newPrinter, SimplePrinter, type Printer } from './format/printer.js';

/** The global flags, as etcdctl 3.4 defines them (etcdctl/ctlv3/ctl.go). */
export const globalFlagSpecs = [
  { name: 'endpoints', kind: 'stringSlice', defaultText: '127.0.0.1:2379', usage: 'gRPC endpoints' },
  { name: 'debug', kind: 'bool', usage: 'enable client-side debug logging' },
  { name: 'write-out', shorthand: 'w', kind: 'string', defaultText: 'simple', usage: 'set the output format (fields, json, protobuf, simple, table)' },
  { name: 'hex', kind: 'bool', usage: 'print byte strings as hex encoded strings' },
  { name: 'dial-timeout', kind: 'duration', defaultText: '2s', usage: 'dial timeout for client connections' },
  { name: 'command-timeout', kind: 'duration', defaultText: '5s', usage: 'timeout for short running command (excluding dial timeout)' },
  { name: 'keepalive-time', kind: 'duration', defaultText: '2s', usage: 'keepalive time for client connections' },
  { name: 'keepalive-timeout', kind: 'duration', defaultText: '6s', usage: 'keepalive timeout for client connections' },
  { name: 'insecure-transport', kind: 'bool', defaultText: 'true', usage: 'disable transport security for client connections' },
  { name: 'insecure-discovery', kind: 'bool', defaultText: 'true', usage: 'accept insecure SRV records describing cluster endpoints' },
  {
    name: 'insecure-skip-tls-verify',
    kind: 'bool',
    usage: 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)',
  },
  { name: 'cert', kind: 'string', usage: 'identify secure client using this TLS certificate file' },
  { name: 'key', kind: 'string', usage: 'identify secure client using this TLS key file' },
  { name: 'cacert', kind: 'string', usage: 'verify certificates of TLS-enabled secure servers using this CA bundle' },
  { name: 'user', kind: 'string', usage: 'username[:password] for authentication (prompt if password is not supplied)' },
  { name: 'password', kind: 'string', usage: "password for authentication (if this option is used, --user option shouldn't include password)" },
  { name: 'discovery-srv', shorthand: 'd', kind: 'string', usage: 'domain name to query for SRV records describing cluster endpoints' },
  { name: 'discovery-srv-name', kind: 'string', usage: 'service name to query when using DNS discovery' },
] as const;

/** A client with access to the raw responses (headers included) that etcdctl prints. */
export class HfClient extends Client {
  /** A unary call through the client's pool (failover, retry policy, auth token), answering the wire response. */
  call<Request, Response>(
    method: { readonly path: string; readonly requestSerialize: (value: Request) => Buffer; readonly responseDeserialize: (value: Buffer) => Response },
    request: Request,
    options: RequestOptions & { endpoint?: string; onlyReads?: boolean } = {},
  ): Promise<Response> {
    return this.core.pool.unary(method as never, request, options) as Promise<Response>;
  }

  /** The pool itself, for streams the typed API does not expose with their headers. */
  get pool(): Client['core']['pool'] {
    return this.core.pool;
  }
}

export interface ClientSettings {
  readonly endpoints: string[];
  readonly dialTimeoutMs: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly auth: { username: string; password: string } | undefined;
  readonly tlsRequested: boolean;
}

export class Session {
  private environmentApplied = false;
  private printer: Printer = new SimplePrinter(false);
  private readonly clients: HfClient[] = [];

  constructor(readonly invocation: Invocation) {}

  flag(name: string): Flag {
    return this.invocation.command.flag(name);
  }

  /** The printer in force (etcdctl's `display`): simple until the global flags are read. */
  get display(): Printer {
    return this.printer;
  }

  get commandTimeoutMs(): number {
    return this.flag('command-timeout').durationMs;
  }

  /** Options of one call bounded by --command-timeout. */
  get callOptions(): RequestOptions {
    return { timeoutMs: Math.max(1, this.commandTimeoutMs) };
  }

  /**
   * Fills unset global flags from ETCDCTL_<FLAG> variables (pkg/flags'
   * SetPflagsFromEnv): a variable that a flag on the command line shadows is
   * fatal; unknown ETCDCTL_ variables are warned about.
   */
  applyEnvironment(ignoredVariables: readonly string[] = []): void {
    if (this.environmentApplied) return;
    this.environmentApplied = true;
    const used = new Set<string>(ignoredVariables);
    const alreadySet = new Set<string>();
    for (const flag of this.invocation.command.inheritedFlags().sorted()) {
      const key = `ETCDCTL_${flag.name.replaceAll('-', '_').toUpperCase()}`;
      if (flag.changed) {
        alreadySet.add(key);
        continue;
      }
      const value = process.env[key];
      if (value !== undefined && value !== '') {
        used.add(key);
        try {
          flag.set(value);
        } catch {
          // etcdctl ignores the error SetPflagsFromEnv returns: the flag keeps its default.
        }
      }
    }
    for (const [key, value] of Object.entries(process.env)) {
      if (used.has(key) || key === 'ETCDCTL_API') continue;
      if (alreadySet.has(key)) {
        errLine(`${capnslogTimestamp()} C | pkg/flags: conflicting environment variable ${JSON.stringify(key)} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`);
        throw new CliExit(ExitCode.error, '', true);
      }
      if (key.startsWith('ETCDCTL_')) errLine(`${capnslogTimestamp()} W | pkg/flags: unrecognized environment variable ${key}=${value ?? ''}`);
    }
  }

  /** etcdctl's initDisplayFromCmd. */
  initDisplay(): Printer {
    const printer = newPrinter(this.flag('write-out').string, this.flag('hex').bool);
    if (printer === undefined) exitWithError(ExitCode.badFeature, 'unsupported output format');
    this.printer = printer;
    return printer;
  }

  /** etcdctl's clientConfigFromCmd: environment, endpoints, timeouts, TLS and auth settings, display. */
  async clientSettings(ignoredVariables: readonly string[] = []): Promise<ClientSettings> {
    this.applyEnvironment(ignoredVariables);
    if (this.flag('debug').bool) {
      for (const flag of this.invocation.command.inheritedFlags().sorted()) {
        errLine(`ETCDCTL_${flag.name.replaceAll('-', '_').toUpperCase()}=${flag.text}`);
      }
    }
    if (this.flag('discovery-srv').string !== '') {
      exitWithError(ExitCode.badFeature, 'DNS SRV discovery (--discovery-srv) is not supported by hfctl; list the members with --endpoints');
    }
    const endpoints = this.flag('endpoints').strings.map((endpoint) => endpoint.trim());
    const tls = this.tlsSettings();
    const auth = await this.authSettings();
    this.initDisplay();
    return {
      endpoints,
      dialTimeoutMs: this.flag('dial-timeout').durationMs,
      keepaliveTimeMs: this.flag('keepalive-time').durationMs,
      keepaliveTimeoutMs: this.flag('keepalive-timeout').durationMs,
      auth,
      tlsRequested: tls,
    };
  }

  /** keyAndCertFromCmd and the rest of secureCfgFromCmd: whether TLS was asked for. */
  private tlsSettings(): boolean {
    for (const name of ['cert', 'key', 'cacert']) {
      const flag = this.flag(name);
      if (flag.changed && flag.string === '') exitWithError(ExitCode.badArgs, `empty string is passed to --${name} option`);
    }
    return this.flag('cert').string !== '' || this.flag('key').string !== '' || this.flag('cacert').string !== '' || !this.flag('insecure-transport').bool;
  }

  /** authCfgFromCmd: --user name:password, --user name --password p, or a prompt. */
  private async authSettings(): Promise<{ username: string; password: string } | undefined> {
    const user = this.flag('user').string;
    const password = this.flag('password').string;
    if (user === '') return undefined;
    if (password !== '') return { username: user, password };
    const colon = user.indexOf(':');
    if (colon >= 0) return { username: user.slice(0, colon), password: user.slice(colon + 1) };
    return { username: user, password: await promptPassword('Password: ') };
  }

  /** A client for the settings (etcdctl's mustClient); refuses TLS, which the client package cannot do yet. */
  async connect(settings: ClientSettings, endpoints: readonly string[] = settings.endpoints): Promise<HfClient> {
    const httpsEndpoint = endpoints.find((endpoint) => /^https:\/\//i.test(endpoint.trim()));
    if (settings.tlsRequested || httpsEndpoint !== undefined) {
      exitWithError(
        ExitCode.badFeature,
        `TLS is not supported yet: hfctl's client (@holdfast/client) only dials plain-text http:// endpoints, so ${
          httpsEndpoint !== undefined ? `the endpoint ${httpsEndpoint}` : '--cacert, --cert, --key and --insecure-transport=false'
        } cannot be used`,
      );
    }
    const options: ClientOptions = {
      endpoints,
      dialTimeoutMs: settings.dialTimeoutMs > 0 ? settings.dialTimeoutMs : Math.max(1, this.commandTimeoutMs),
      callTimeoutMs: Math.max(1, this.commandTimeoutMs),
      // Like clientv3: keep trying until the command's deadline.
      retryAttemptsMax: 1_000,
      // grpc-go never pings more often than every 10 s, whatever --keepalive-time says; etcd refuses more.
      keepaliveTimeMs: Math.max(10_000, settings.keepaliveTimeMs),
      keepaliveTimeoutMs: Math.max(1, settings.keepaliveTimeoutMs),
      ...(settings.auth === undefined ? {} : { auth: settings.auth }),
    };
    let client: HfClient;
    try {
      client = new HfClient(options);
    } catch (error) {
      exitWithError(ExitCode.badConnection, error instanceof Error ? error.message : String(error));
    }
    this.clients.push(client);
    if (settings.auth !== undefined) {
      // clientv3.New logs in at once; a refused login is a connection failure.
      try {
        await client.auth.authenticate(settings.auth.username, settings.auth.password, this.callOptions);
      } catch (error) {
        exitWithError(ExitCode.badConnection, etcdctlMessage(error));
      }
    }
    return client;
  }

  /** etcdctl's mustClientFromCmd. */
  async client(ignoredVariables: readonly string[] = []): Promise<HfClient> {
    return this.connect(await this.clientSettings(ignoredVariables));
  }

  close(): void {
    for (const client of this.clients.splice(0)) client.close();
  }
}

/** speakeasy.Ask: the prompt on stdout, the password from the terminal without echo (or a line of stdin). */
async function promptPassword(prompt: string): Promise<string> {
  out(prompt);
  const stdin = process.stdin;
  return new Promise<string>((resolve) => {
    let text = '';
    const raw = stdin.isTTY;
    if (raw) stdin.setRawMode(true);
    const finish = (): void => {
      stdin.removeListener('data', onData);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      if (raw) err('\n');
      resolve(text);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\n' || ch === '\r' || ch === '\u0004') return finish();
        if (ch === '\u0003') process.exit(ExitCode.interrupted);
        text += ch;
      }
    };
    stdin.on('data', onData);
    stdin.once('end', finish);
    stdin.resume();
  });
}
