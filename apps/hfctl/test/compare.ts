/**
 * Comparison of etcdctl and hfctl: a scenario (a function issuing commands)
 * runs once per tool against a fresh server of one kind; each step's
 * command line, exit code, stdout and stderr go into a transcript; the two
 * transcripts must be equal once what legitimately differs between two
 * fresh servers is masked:
 *
 *   - the server's address, the peer port and temporary paths;
 *   - ids that are random per server: lease ids, member and cluster ids,
 *     renamed <id-1>, <id-2>... by first appearance (decimal and hex
 *     forms of one id get the same name, so an id printed in the wrong
 *     place still shows);
 *   - timings (took), database sizes, raft index and applied index, the
 *     seconds left of a long lease, capnslog and zap timestamps;
 *   - the program name (hfctl where etcdctl says etcdctl).
 *
 * Tables are compared with their padding collapsed, since widths follow
 * the masked values (byte-exact tables are checked against one server by
 * same-server.test.ts).
 */
import assert from 'node:assert/strict';
import { etcdserverpb } from '@holdfast/proto';
import { background, removeDirectory, run, startServer, temporaryDirectory, type Background, type CommandResult, type RunOptions, type RunningServer, type ServerKind, type StartOptions, type Tool } from './support.js';

export interface ScenarioContext {
  readonly tool: Tool;
  readonly server: RunningServer;
  /** A temporary directory of this run (snapshots and the like). */
  readonly directory: string;
  /**
   * Runs a command (the endpoint flag is added unless `raw`), records it, and
   * returns its result. `sortRecords`: the records printed come in an order
   * that depends on random ids (members are listed by id): compare them as a set.
   */
  run(args: readonly string[], options?: RunOptions & { raw?: boolean; label?: string; sortRecords?: boolean; maskRevision?: boolean }): Promise<CommandResult>;
  /** Starts a long-running command (watch, keep-alive); record its output later with record(). */
  start(args: readonly string[], options?: RunOptions & { raw?: boolean }): Background;
  /** Adds text to the transcript (what a background command printed). */
  record(label: string, text: string): void;
  /** Like record, but for a background command: its stdout (`protobuf`: decoded), stderr and exit code. */
  recordBackground(label: string, command: Background, exitCode: number, options?: { protobuf?: boolean }): void;
}

export type Scenario = (context: ScenarioContext) => Promise<void>;

export class Transcript {
  readonly steps: string[] = [];
  private readonly ids = new Map<string, string>();

  constructor(
    private readonly server: RunningServer,
    private readonly tool: Tool,
    private readonly directory: string,
  ) {}

  add(text: string, options: { sortRecords?: boolean; maskRevision?: boolean } = {}): void {
    let normalized = this.normalize(text);
    if (options.maskRevision === true) normalized = normalized.replace(/"revision":\d+/g, '"revision":<revision>').replace(/^"Revision" : \d+$/gm, '"Revision" : <revision>');
    this.steps.push(options.sortRecords === true ? sortRecords(normalized) : normalized);
  }

  idFor(hex: string): string {
    const key = hex.replace(/^0+/, '') || '0';
    let name = this.ids.get(key);
    if (name === undefined) {
      name = `<id-${this.ids.size + 1}>`;
      this.ids.set(key, name);
    }
    return name;
  }

  /**
   * Protobuf output (-w protobuf) starts with the response header, whose
   * cluster and member ids are varints: decode it and show it as text with
   * the ids renamed; the rest of the message stays as bytes.
   */
  protobuf(stdout: string): string {
    const bytes = Buffer.from(stdout, 'latin1');
    const headerText = (header: etcdserverpb.ResponseHeader): string =>
      `<header cluster=${this.decimalId(header.clusterId.toString())} member=${this.decimalId(header.memberId.toString())} revision=${header.revision} term=${header.raftTerm}>`;
    // A bare header (what etcdctl writes for lease responses).
    if (bytes[0] === 0x08) return headerText(etcdserverpb.ResponseHeader.decode(bytes));
    if (bytes[0] !== 0x0a) return stdout;
    let length = 0;
    let shift = 0;
    let offset = 1;
    for (;;) {
      const byte = bytes[offset++];
      if (byte === undefined) return stdout;
      length |= (byte & 0x7f) << shift;
      shift += 7;
      if (byte < 0x80) break;
    }
    return headerText(etcdserverpb.ResponseHeader.decode(bytes.subarray(offset, offset + length))) + bytes.subarray(offset + length).toString('latin1');
  }

  private decimalId(value: string): string {
    const big = BigInt(value);
    return big === 0n ? value : this.idFor(BigInt.asUintN(64, big).toString(16));
  }

  normalize(input: string): string {
    let text = input.replaceAll(this.server.endpoint, '<endpoint>').replaceAll(this.directory, '<dir>');
    text = text.replaceAll(`127.0.0.1:${this.server.peerPort}`, '<peer>');
    if (this.tool === 'hfctl') text = text.replace(/\bhfctl\b/g, 'etcdctl');
    text = text
      // capnslog (pkg/flags warnings) and zap (snapshot) log lines.
      .replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} ([A-Z]) \| /gm, '<time> $1 | ')
      .replace(/^\{"level":"([a-z]+)".*?"msg":"([^"]*)".*\}$/gm, 'log $1: $2')
      // Keys named after a lease (lock and election keys) in JSON: decoded, so that the id in them is renamed.
      .replace(/"key":"([A-Za-z0-9+/=]+)"/g, (all, base64: string) => {
        const decoded = Buffer.from(base64, 'base64').toString('latin1');
        // (Go writes the id with %x: no leading zeros.)
        return /\/[0-9a-f]{8,16}$/.test(decoded) ? `"key":base64(${JSON.stringify(decoded)})` : all;
      })
      // Ids: JSON, fields and hex forms.
      .replace(/"(ID|id|lease|cluster_id|member_id|leader|memberID)":(-?\d+)/g, (_all, field: string, value: string) => `"${field}":${this.decimalId(value)}`)
      .replace(/\b(cluster_id|member_id|memberID):(\d+)/g, (_all, field: string, value: string) => `${field}:${this.decimalId(value)}`)
      .replace(/^"(ClusterID|MemberID|ID|Leader|Lease|PrevLease)" : (-?\d+)$/gm, (_all, field: string, value: string) => `"${field}" : ${this.decimalId(value)}`)
      .replace(/Member +([0-9a-f]+) (added to|removed from|updated in|promoted in) cluster +([0-9a-f]+)/g, (_all, member: string, verb: string, cluster: string) => `Member ${this.idFor(member)} ${verb} cluster ${this.idFor(cluster)}`)
      .replace(/\b[0-9a-f]{13,16}\b/g, (hex) => this.idFor(hex))
      // Timings.
      .replace(/took = \S+/g, 'took = <duration>')
      .replace(/"took":"[^"]*"/g, '"took":"<duration>"')
      .replace(/^"Took" : .*$/gm, '"Took" : <duration>')
      // Database size, raft index and applied index.
      .replace(/"(dbSize|dbSizeInUse|raftIndex|raftAppliedIndex)":\d+/g, '"$1":<n>')
      .replace(/^"(DBSize|RaftIndex|RaftAppliedIndex)" : \d+$/gm, '"$1" : <n>')
      .replace(/^(<endpoint>|[^,\n]+), (<id-\d+>), ([^,]+), [\d.]+ [kMGT]?B, (true|false), (true|false), (\d+), \d+, \d+, /gm, '$1, $2, $3, <size>, $4, $5, $6, <index>, <index>, ')
      // The seconds left of a long lease depend on when the step ran.
      .replace(/remaining\((\d+)s\)/g, (_all, seconds: string) => (Number(seconds) >= 20 ? 'remaining(<ttl>s)' : `remaining(${seconds}s)`))
      .replace(/"ttl":(\d+)/g, (_all, seconds: string) => (Number(seconds) >= 20 ? '"ttl":<ttl>' : `"ttl":${seconds}`))
      .replace(/^"TTL" : (\d+)$/gm, (all, seconds: string) => (Number(seconds) >= 20 ? '"TTL" : <ttl>' : all));
    // etcd lists a lease's keys in Go map order (random): compare them as a set.
    text = text
      .replace(/(^"Key" : .*\n)+/gm, (block) => block.split('\n').filter((line) => line !== '').sort().map((line) => `${line}\n`).join(''))
      .replace(/"keys":\[([^\]]*)\]/g, (_all, keys: string) => `"keys":[${keys.split(',').sort().join(',')}]`)
      .replace(/attached keys\(\[([^\]]*)\]\)/g, (_all, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`);
    // Tables: collapse padding; mask the status row's size and indexes.
    text = text.replace(/^[+|].*$/gm, (line) => {
      let collapsed = line.replace(/-{2,}/g, '-').replace(/ {2,}/g, ' ');
      // (Output is read as latin1: the µ of µs is two characters.)
      collapsed = collapsed.replace(/\| \d+(\.\d+)?(ns|µs|Âµs|ms|s) \|/g, '| <duration> |');
      collapsed = collapsed.replace(/^\| (\S+) \| (<id-\d+>) \| (\S+) \| [\d.]+ [kMGT]?B \| (true|false) \| (true|false) \| (\d+) \| \d+ \| \d+ \|/, '| $1 | $2 | $3 | <size> | $4 | $5 | $6 | <index> | <index> |');
      return collapsed;
    });
    return text;
  }
}

/** The elements of the JSON array that starts at `open` (the "["), split at its top level; and where it ends. */
function jsonArrayElements(text: string, open: number): { elements: string[]; end: number } {
  const elements: string[] = [];
  let depth = 0;
  let inString = false;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) {
        if (i > start) elements.push(text.slice(start, i));
        return { elements, end: i };
      }
    } else if (ch === ',' && depth === 1) {
      elements.push(text.slice(start, i));
      start = i + 1;
    }
  }
  return { elements, end: text.length };
}

/**
 * Puts the records a step printed in a canonical order: the members of a
 * JSON member list, the names of ETCD_INITIAL_CLUSTER, the member blocks of
 * the fields format (after the header), and otherwise the lines.
 */
function sortRecords(step: string): string {
  const start = step.indexOf('--- stdout\n') + '--- stdout\n'.length;
  const end = step.indexOf('--- stderr\n');
  if (start < '--- stdout\n'.length || end < start) return step;
  let stdout = step.slice(start, end).replace(/ETCD_INITIAL_CLUSTER="([^"]*)"/g, (_all, list: string) => `ETCD_INITIAL_CLUSTER="${list.split(',').sort().join(',')}"`);
  const members = stdout.indexOf('"members":[');
  if (stdout.startsWith('{') && members >= 0) {
    const open = members + '"members":'.length;
    const { elements, end: close } = jsonArrayElements(stdout, open);
    stdout = `${stdout.slice(0, open)}[${elements.sort().join(',')}${stdout.slice(close)}`;
  } else if (stdout.startsWith('"ClusterID"')) {
    const lines = stdout.split('\n');
    const header = lines.slice(0, 4).join('\n');
    const blocks = lines.slice(4).join('\n').split('\n\n').filter((block) => block.trim() !== '');
    stdout = `${header}\n${blocks.sort().join('\n\n')}\n\n`;
  } else {
    stdout = stdout.split('\n').sort().join('\n');
  }
  return step.slice(0, start) + stdout + step.slice(end);
}

/** Runs a scenario with one tool against one server; the transcript of every step. */
export async function runScenario(tool: Tool, server: RunningServer, directory: string, scenario: Scenario): Promise<string[]> {
  const transcript = new Transcript(server, tool, directory);
  const withEndpoint = (args: readonly string[], raw: boolean | undefined): string[] => (raw === true ? [...args] : ['--endpoints', server.endpoint, ...args]);
  const context: ScenarioContext = {
    tool,
    server,
    directory,
    run: async (args, options = {}) => {
      const result = await run(tool, withEndpoint(args, options.raw), { cwd: directory, ...options });
      const protobuf = args.join(' ').match(/(-w|--write-out)[ =]?protobuf/) !== null;
      const stdout = protobuf ? transcript.protobuf(result.stdout) : result.stdout;
      const stderr = result.stderr
        .split('\n')
        // clientv3's retry warnings carry timestamps and client ids; the error line after them says it all.
        .filter((line) => !line.includes('retry_interceptor.go'))
        .join('\n');
      const envText = options.env === undefined ? '' : `${Object.entries(options.env).map(([key, value]) => `${key}=${value}`).join(' ')} `;
      transcript.add(`$ ${envText}${options.label ?? `etcdctl ${args.join(' ')}`}${options.input === undefined ? '' : ` <<< ${JSON.stringify(options.input)}`}\nexit ${result.exitCode}\n--- stdout\n${stdout}--- stderr\n${stderr}`, {
        sortRecords: options.sortRecords === true,
        maskRevision: options.maskRevision === true,
      });
      return result;
    },
    start: (args, options = {}) => background(tool, withEndpoint(args, options.raw), { cwd: directory, ...options }),
    record: (label, text) => transcript.add(`$ ${label}\n${text}`),
    recordBackground: (label, command, exitCode, options = {}) => {
      const stderr = command
        .stderr()
        .split('\n')
        .filter((line) => !line.includes('retry_interceptor.go'))
        .join('\n');
      const stdout = options.protobuf === true ? transcript.protobuf(command.stdout()) : command.stdout();
      transcript.add(`$ ${label}\nexit ${exitCode}\n--- stdout\n${stdout}--- stderr\n${stderr}`);
    },
  };
  await scenario(context);
  return transcript.steps;
}

/**
 * Runs `scenario` with etcdctl and with hfctl, each against a fresh server
 * of `kind` started with `options`, both at once (scenarios mostly wait on
 * child processes, servers and watchers, so two fit in the time of one);
 * the transcripts, each step passed through `mapStep`.
 */
export async function transcriptsOfBothTools(kind: ServerKind, label: string, scenario: Scenario, options: StartOptions & { mapStep?: (step: string) => string } = {}): Promise<Record<Tool, string[]>> {
  const [etcdctl, hfctl] = await Promise.all(
    (['etcdctl', 'hfctl'] as const).map(async (tool) => {
      const server = await startServer(kind, options);
      const directory = temporaryDirectory(label);
      try {
        const steps = await runScenario(tool, server, directory, scenario);
        return options.mapStep === undefined ? steps : steps.map(options.mapStep);
      } finally {
        await server.stop();
        removeDirectory(directory);
      }
    }),
  );
  return { etcdctl: etcdctl!, hfctl: hfctl! };
}

export interface Comparison {
  readonly steps: number;
  readonly passed: number;
  readonly differences: string[];
}

export function compare(etcdctl: readonly string[], hfctl: readonly string[]): Comparison {
  const differences: string[] = [];
  const steps = Math.max(etcdctl.length, hfctl.length);
  for (let i = 0; i < steps; i++) {
    if (etcdctl[i] !== hfctl[i]) differences.push(`--- etcdctl\n${etcdctl[i] ?? '(missing)'}\n+++ hfctl\n${hfctl[i] ?? '(missing)'}`);
  }
  return { steps, passed: steps - differences.length, differences };
}

/** Asserts two transcripts are equal, listing every differing step. */
export function assertSame(label: string, comparison: Comparison): void {
  console.log(`${label}: ${comparison.passed} of ${comparison.steps} steps print the same`);
  assert.deepEqual(comparison.differences, [], `${label}: ${comparison.differences.length} of ${comparison.steps} steps differ:\n${comparison.differences.join('\n')}`);
}
