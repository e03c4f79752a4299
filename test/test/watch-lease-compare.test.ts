/**
 * etcdctl 3.4's `watch` and `lease` commands against a fresh Holdfast and a
 * fresh real etcd: the same sequence must print the same thing.
 *
 * Watchers run as background etcdctl processes (single key, --prefix,
 * --prev-kv, -w json, -i with several watches on one stream, --rev replaying
 * history, and a compacted --rev); their whole output is compared once the
 * writes are done. Lease ids differ between servers, so each distinct id is
 * replaced by its order of first appearance (<lease-1>, <lease-2>...), which
 * still checks that the same lease shows up in the same places.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { etcdAvailability, etcdctl, removeDirectory, startEtcd, startHoldfast, type RunningServer } from '../src/support.js';

/** A long-running etcdctl (watch, keep-alive) whose output is read at the end. */
interface BackgroundCommand {
  readonly label: string;
  readonly child: ChildProcess;
  output(): string;
  writeLine(line: string): void;
  stop(): Promise<void>;
}

function startBackground(server: RunningServer, label: string, args: readonly string[]): BackgroundCommand {
  const child = spawn('etcdctl', ['--endpoints', server.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    label,
    child,
    output: () => output,
    writeLine: (line) => child.stdin!.write(`${line}\n`),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Lets background watchers receive what was just written before the next step. */
const settleMs = 300;

class Transcript {
  readonly lines: string[] = [];
  private readonly ids = new Map<string, string>();

  add(text: string, server: RunningServer): void {
    this.lines.push(this.normalize(text, server));
  }

  /** The lease id a `lease grant` printed. */
  static grantedId(stdout: string): string {
    const match = /lease ([0-9a-f]+) granted/.exec(stdout);
    if (match === null) throw new Error(`no lease id in ${JSON.stringify(stdout)}`);
    return match[1]!;
  }

  private normalize(text: string, server: RunningServer): string {
    return (
      text
        .replaceAll(server.endpoint, '<endpoint>')
        .replace(/"(cluster_id|member_id|ID|id|lease)":(\d+)/g, (_all, field: string, value: string) => `"${field}":${field === 'cluster_id' || field === 'member_id' ? '<n>' : this.idFor(BigInt(value).toString(16).padStart(16, '0'))}`)
        // etcd lists a lease's keys in Go map order (random); compare them as a set.
        .replace(/"keys":\[([^\]]*)\]/g, (_all, keys: string) => `"keys":[${keys.split(',').sort().join(',')}]`)
        .replace(/attached keys\(\[([^\]]*)\]\)/g, (_all, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`)
        // Ids print as %x: a leading zero digit is dropped, so 13 to 16 digits.
        .replace(/\b[0-9a-f]{13,16}\b/g, (id) => this.idFor(id.padStart(16, '0')))
        // The 100 s lease's remaining time depends on when the step ran.
        .replace(/remaining\((9\d)s\)/g, 'remaining(9<n>s)')
        .replace(/TTL\((9\d)\)/g, 'TTL(9<n>)')
        .replace(/"(TTL|ttl)":9\d\b/g, '"$1":9<n>')
    );
  }

  private idFor(id: string): string {
    let name = this.ids.get(id);
    if (name === undefined) {
      name = `<lease-${this.ids.size + 1}>`;
      this.ids.set(id, name);
    }
    return name;
  }
}

async function runScenario(server: RunningServer): Promise<string[]> {
  const transcript = new Transcript();
  const run = async (args: string[], input?: string): Promise<string> => {
    const result = await etcdctl(server.endpoint, args, input);
    const stderr = result.stderr
      .split('\n')
      .filter((line) => !line.includes('retry_interceptor.go'))
      .join('\n');
    transcript.add(`$ etcdctl ${args.join(' ')}\nexit ${result.exitCode}\n${result.stdout}${stderr}`, server);
    await sleep(settleMs);
    return result.stdout;
  };

  const background: BackgroundCommand[] = [
    startBackground(server, 'watch foo', ['watch', 'foo']),
    startBackground(server, 'watch --prefix foo --prev-kv', ['watch', '--prefix', 'foo', '--prev-kv']),
    startBackground(server, 'watch -w json --prefix lease/', ['watch', '-w', 'json', '--prefix', 'lease/']),
    startBackground(server, 'watch foo zoo (range)', ['watch', 'foo', 'zoo']),
    startBackground(server, 'watch -i', ['watch', '-i']),
  ];
  try {
    const interactive = background[4]!;
    interactive.writeLine('watch --prefix bar');
    interactive.writeLine('watch foo --prev-kv');
    // Let every watcher register before the first write.
    await sleep(1500);

    await run(['put', 'foo', '1']);
    await run(['put', 'foo', '2']);
    await run(['put', 'foo/child', 'c']);
    await run(['put', 'bar', 'b1']);
    await run(['put', 'goo', 'in-range']);
    await run(['del', 'foo']);
    await run(['txn'], '\n\nput foo/a 1\nput foo/b 2\nput bar/x 3\ndel foo/child\n\n');
    await run(['del', 'foo', '--prefix']);

    // A lease asking for 1 s gets the minimum TTL (2 s) and expires with its key.
    const short = Transcript.grantedId(await run(['lease', 'grant', '1']));
    await run(['put', 'lease/c', 'z', '--lease', short]);
    await sleep(4000);
    await run(['get', 'lease/', '--prefix']);
    await run(['lease', 'timetolive', short]);
    await run(['lease', 'revoke', short]);

    const long = Transcript.grantedId(await run(['lease', 'grant', '100']));
    await run(['put', 'lease/a', 'x', '--lease', long]);
    await run(['put', 'lease/b', 'y', '--lease', long]);
    await run(['put', 'lease/none', 'w', '--lease', '1234abcd']);
    await run(['lease', 'timetolive', long]);
    await run(['lease', 'timetolive', long, '--keys']);
    await run(['lease', 'timetolive', long, '--keys', '-w', 'json']);
    await run(['lease', 'list']);
    await run(['lease', 'keep-alive', '--once', long]);
    await run(['lease', 'keep-alive', '--once', '1234abcd']);
    await run(['lease', 'revoke', long]);
    await run(['lease', 'revoke', long]);
    await run(['lease', 'timetolive', long]);
    await run(['lease', 'timetolive', long, '-w', 'json']);
    await run(['get', 'lease/', '--prefix']);
    await run(['lease', 'grant', '9000000001']);
    const zero = Transcript.grantedId(await run(['lease', 'grant', '0']));
    await run(['lease', 'revoke', zero]);
    await run(['lease', 'list']);

    // A keep-alive stream for a while: the first reply is what is compared.
    const keepAliveLease = Transcript.grantedId(await run(['lease', 'grant', '60']));
    const keepAlive = startBackground(server, 'lease keep-alive', ['lease', 'keep-alive', keepAliveLease]);
    await sleep(1500);
    await keepAlive.stop();
    transcript.add(`$ etcdctl lease keep-alive (first reply)\n${keepAlive.output().split('\n')[0]}`, server);

    // History: every revision so far, from a new watcher.
    const replay = startBackground(server, 'watch --rev 2 --prefix ""', ['watch', '--rev', '2', '--prefix', '']);
    await sleep(1500);
    await replay.stop();
    transcript.add(`$ etcdctl watch --rev 2 --prefix ''\n${replay.output()}`, server);

    await run(['compaction', '6']);
    const compacted = startBackground(server, 'watch --rev 3 foo', ['watch', '--rev', '3', 'foo']);
    await sleep(1500);
    await compacted.stop();
    transcript.add(`$ etcdctl watch --rev 3 foo (compacted)\n${compacted.output()}`, server);
  } finally {
    for (const command of background) await command.stop();
  }
  for (const command of background) transcript.add(`$ etcdctl ${command.label}\n${command.output()}`, server);
  return transcript.lines;
}

const availability = await etcdAvailability();

test('etcdctl watch and lease print the same against Holdfast as against etcd', { skip: availability.available ? false : availability.reason, timeout: 180_000 }, async () => {
  const transcripts: Record<string, string[]> = {};
  for (const start of [startEtcd, startHoldfast]) {
    const server = await start();
    try {
      transcripts[server.kind] = await runScenario(server);
    } finally {
      await server.stop();
      removeDirectory(server.dataDir);
    }
  }
  const etcd = transcripts.etcd!;
  const holdfast = transcripts.holdfast!;
  assert.equal(holdfast.length, etcd.length);
  const differences = etcd.flatMap((expected, i) => (holdfast[i] === expected ? [] : [`--- etcd\n${expected}\n+++ holdfast\n${holdfast[i]}`]));
  assert.deepEqual(differences, [], `${differences.length} of ${etcd.length} steps differ:\n${differences.join('\n')}`);
  // The scenario really exercised watchers: events were printed.
  assert.match(holdfast.join('\n'), /DELETE\nlease\/a/);
});
