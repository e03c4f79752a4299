/**
 * watch (key, range, --prefix, --prev-kv, every output format, -i with
 * several watches and progress requests, a command run per event with the
 * ETCD_WATCH_* variables, ETCDCTL_WATCH_KEY, replaying history with --rev,
 * a compacted --rev, bad arguments) and lease (grant, timetolive --keys,
 * list, keep-alive, --once, revoke, every output format, errors): etcdctl
 * and hfctl must print the same against a fresh Holdfast and a fresh etcd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSame, compare, transcriptsOfBothTools, type Scenario, type ScenarioContext } from './compare.js';
import { etcdMissing, sleep, type Background, type ServerKind } from './support.js';

/** Lets background watchers see what was just written before the next step. */
const settleMs = 400;
/** Lets a new watcher start (process start, connection, watch creation). */
const startMs = 2_500;

function grantedId(stdout: string): string {
  const match = /lease ([0-9a-f]+) granted/.exec(stdout);
  if (match === null) throw new Error(`no lease id in ${JSON.stringify(stdout)}`);
  return match[1]!;
}

const execScript = 'echo "rev=$ETCD_WATCH_REVISION type=$ETCD_WATCH_EVENT_TYPE key=$ETCD_WATCH_KEY value=$ETCD_WATCH_VALUE"';

const watchLeaseScenario: Scenario = async (context: ScenarioContext) => {
  const run = async (args: string[], input?: string): Promise<string> => {
    const result = await context.run(args, input === undefined ? {} : { input });
    await sleep(settleMs);
    return result.stdout;
  };
  const watchers: Array<[string, Background]> = [
    ['watch foo', context.start(['watch', 'foo'])],
    ['watch --prefix foo --prev-kv', context.start(['watch', '--prefix', 'foo', '--prev-kv'])],
    ['watch -w json --prefix lease/', context.start(['watch', '-w', 'json', '--prefix', 'lease/'])],
    ['watch -w fields foo', context.start(['watch', '-w', 'fields', 'foo'])],
    ['watch -w protobuf bar', context.start(['watch', '-w', 'protobuf', 'bar'])],
    ['watch --hex foo zoo (range)', context.start(['watch', '--hex', 'foo', 'zoo'])],
    ['watch --prefix foo -- sh -c ...', context.start(['watch', '--prefix', 'foo', '--', 'sh', '-c', execScript])],
    ['ETCDCTL_WATCH_KEY=bar watch', context.start(['watch'], { env: { ETCDCTL_WATCH_KEY: 'bar' } })],
    ['ETCDCTL_WATCH_KEY=foo ETCDCTL_WATCH_RANGE_END=foo0 watch -- sh -c ...', context.start(['watch', '--', 'sh', '-c', execScript], { env: { ETCDCTL_WATCH_KEY: 'foo', ETCDCTL_WATCH_RANGE_END: 'foo0' } })],
    ['watch -i', context.start(['watch', '-i'])],
  ];
  try {
    const interactive = watchers[watchers.length - 1]![1];
    interactive.writeLine('watch --prefix bar');
    interactive.writeLine('watch foo --prev-kv');
    // A command only for goo: no other watch of this process sees it, so the output order is fixed.
    interactive.writeLine('watch goo -- sh -c "echo interactive $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"');
    interactive.writeLine('bogus line');
    interactive.writeLine('');
    interactive.writeLine('watch');
    interactive.writeLine('watch a b --prefix');
    await sleep(startMs);

    await run(['put', 'foo', '1']);
    await run(['put', 'foo', '2']);
    await run(['put', 'foo/child', 'c']);
    await run(['put', 'bar', 'b1']);
    await run(['put', 'goo', 'in-range']);
    await run(['del', 'foo']);
    await run(['txn'], '\n\nput foo/a 1\nput foo/b 2\nput bar/x 3\ndel foo/child\n\n');
    interactive.writeLine('progress');
    await sleep(settleMs);
    await run(['del', 'foo', '--prefix']);

    // A lease asking for 1 s gets the minimum TTL (2 s) and expires with its key.
    const short = grantedId(await run(['lease', 'grant', '1']));
    await run(['put', 'lease/c', 'z', '--lease', short]);
    await sleep(4_000);
    await run(['get', 'lease/', '--prefix']);
    await run(['lease', 'timetolive', short]);
    await run(['lease', 'timetolive', short, '-w', 'json']);
    await run(['lease', 'revoke', short]);

    const long = grantedId(await run(['lease', 'grant', '100']));
    await run(['put', 'lease/a', 'x', '--lease', long]);
    await run(['put', 'lease/b', 'y', '--lease', long]);
    await run(['put', 'lease/none', 'w', '--lease', '1234abcd']);
    await run(['lease', 'timetolive', long]);
    await run(['lease', 'timetolive', long, '--keys']);
    await run(['lease', 'timetolive', long, '--keys', '-w', 'fields']);
    await run(['lease', 'timetolive', long, '-w', 'json']);
    await run(['lease', 'timetolive', long, '-w', 'protobuf']);
    await run(['lease', 'timetolive', long, '-w', 'table']);
    await run(['lease', 'list']);
    await run(['lease', 'list', '-w', 'json']);
    await run(['lease', 'list', '-w', 'fields']);
    await run(['lease', 'keep-alive', '--once', long]);
    await run(['lease', 'keep-alive', '--once', long, '-w', 'json']);
    await run(['lease', 'keep-alive', '--once', long, '-w', 'fields']);
    await run(['lease', 'keep-alive', '--once', '1234abcd']);
    await run(['lease', 'grant', '100', '-w', 'protobuf']);
    await run(['lease', 'list', '-w', 'protobuf']);
    await run(['lease', 'keep-alive', '--once', long, '-w', 'protobuf']);
    await run(['lease', 'revoke', long, '-w', 'protobuf']);
    await run(['lease', 'revoke', long, '-w', 'json']);
    await run(['lease', 'revoke', long]);
    await run(['lease', 'timetolive', long]);
    await run(['lease', 'timetolive', long, '-w', 'json']);
    await run(['get', 'lease/', '--prefix']);
    await run(['lease', 'grant', '9000000001']);
    const zero = grantedId(await run(['lease', 'grant', '0']));
    await run(['lease', 'revoke', zero, '-w', 'fields']);
    await run(['lease', 'grant', '30', '-w', 'json']);
    await run(['lease', 'grant', '30', '-w', 'fields']);
    await run(['lease', 'grant', '30', '-w', 'table']);
    // Bad arguments.
    await run(['lease', 'grant']);
    await run(['lease', 'grant', 'ten']);
    await run(['lease', 'revoke']);
    await run(['lease', 'revoke', 'xyz']);
    await run(['lease', 'timetolive']);
    await run(['lease', 'timetolive', 'zz']);
    await run(['lease', 'keep-alive']);
    await run(['lease', 'keep-alive', 'q']);
    await run(['watch']);
    await run(['watch', 'a', 'b', '--prefix']);
    await run(['watch', 'a', '--']);
    await run(['watch', 'a', '--rev', 'x']);

    // A keep-alive stream for a while: the first reply is what is compared.
    const keepAliveLease = grantedId(await run(['lease', 'grant', '60']));
    for (const format of ['simple', 'json']) {
      const keepAlive = context.start(['lease', 'keep-alive', keepAliveLease, '-w', format]);
      await sleep(startMs);
      await keepAlive.stop();
      context.record(`lease keep-alive -w ${format} (first reply)`, keepAlive.stdout().split('\n')[0]!);
    }
    // Keep-alive of a lease revoked meanwhile ends by itself, at its next
    // keepalive (TTL/3: 2 s here, instead of waiting 20 s on a 60 s lease).
    const doomed = grantedId(await run(['lease', 'grant', '6']));
    const ending = context.start(['lease', 'keep-alive', doomed]);
    await sleep(startMs);
    await run(['lease', 'revoke', doomed]);
    const endedWith = await Promise.race([ending.exited(), sleep(20_000).then(() => -1)]);
    const lines = ending.stdout().split('\n');
    context.record('lease keep-alive (revoked meanwhile)', `exit ${endedWith}\n${lines[0]}\n${lines[lines.length - 2]}`);
    await ending.stop();

    // History: every revision so far, from a new watcher.
    for (const format of ['simple', 'json']) {
      const replay = context.start(['watch', '--rev', '2', '--prefix', '', '-w', format]);
      await sleep(startMs);
      context.recordBackground(`watch --rev 2 --prefix '' -w ${format}`, replay, await replay.stop());
    }

    await run(['compaction', '6']);
    for (const format of ['simple', 'json']) {
      const compacted = context.start(['watch', '--rev', '3', 'foo', '-w', format]);
      const code = await Promise.race([compacted.exited(), sleep(10_000).then(() => compacted.stop())]);
      context.recordBackground(`watch --rev 3 foo -w ${format} (compacted)`, compacted, code);
    }
  } finally {
    for (const [, watcher] of watchers) await watcher.stop();
  }
  for (const [label, watcher] of watchers) context.recordBackground(label, watcher, 143, { protobuf: label.includes('protobuf') });
};

const missing = await etcdMissing();

for (const kind of ['etcd', 'holdfast'] as const satisfies readonly ServerKind[]) {
  test(`watch and lease: etcdctl and hfctl print the same against ${kind}`, { skip: missing ?? false, timeout: 300_000 }, async () => {
    const transcripts = await transcriptsOfBothTools(kind, 'watch', watchLeaseScenario);
    assertSame(`watch and lease against ${kind}`, compare(transcripts.etcdctl, transcripts.hfctl));
    // The scenario really exercised the watchers and the commands they ran.
    assert.match(transcripts.hfctl.join('\n'), /DELETE\nlease\/a/);
    assert.match(transcripts.hfctl.join('\n'), /rev=\d+ type="PUT" key="foo\/child" value="c"/);
  });
}
