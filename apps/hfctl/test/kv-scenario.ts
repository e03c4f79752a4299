/**
 * get, put, del, txn and compaction, in every output format, with their
 * errors and bad input (wrong argument counts, unknown flags and commands,
 * malformed txn input, bad values), help texts and ETCDCTL_* variables:
 * etcdctl 3.4 and hfctl must print the same against a fresh Holdfast and a
 * fresh etcd.
 */
import type { Scenario } from './compare.js';

const formats = ['simple', 'json', 'fields', 'protobuf', 'table'];

const txnSuccess = 'value("foo") = "bar2"\n\nput txn-ok yes\nget foo\n\nput txn-failed yes\n\n';
const txnFailure = 'mod("foo") > "1000"\nversion("zoo") = "1"\n\nput never yes\n\nput txn-else yes\nget zoo\ndel foo3\n\n';
const txnCreate = 'create("brand-new") = "0"\n\nput brand-new 1\n\n\n';

export const kvScenario: Scenario = async ({ run }) => {
  // Writes and reads.
  await run(['put', 'foo', 'bar']);
  await run(['put', 'foo', 'bar2', '--prev-kv']);
  for (const format of formats) await run(['put', 'foo', 'bar2', '--prev-kv', '-w', format]);
  await run(['put', 'foo2', 'second']);
  await run(['put', 'foo3', 'third']);
  await run(['put', 'zoo', 'animal']);
  await run(['put', 'a/b', 'c']);
  await run(['put', 'from-stdin'], { input: 'value from stdin\nwith two lines\n' });
  await run(['put', '--', 'dash-key', '-dash-value']);
  await run(['put', 'spaced key', 'spaced value']);
  await run(['put', 'quote"key', 'tab\tvalue']);
  await run(['put', 'ünïcødé', '値']);
  for (const format of formats) await run(['get', 'foo', '-w', format]);
  for (const format of formats) await run(['get', 'missing', '-w', format]);
  await run(['get', 'from-stdin']);
  await run(['get', 'dash-key', '--print-value-only']);
  await run(['get', 'quote"key', '-w', 'fields']);
  await run(['get', 'ünïcødé', '-w', 'json']);
  await run(['get', 'ünïcødé', '--hex']);
  await run(['get', 'foo', '--prefix']);
  await run(['get', 'foo', '--prefix', '--hex']);
  await run(['get', 'foo', '--prefix', '--limit', '2', '-w', 'json']);
  await run(['get', 'foo', '--prefix', '--limit', '2', '-w', 'fields']);
  await run(['get', 'foo', '--prefix', '--limit=-1']);
  await run(['get', 'foo', '--prefix', '--keys-only']);
  await run(['get', 'foo', '--prefix', '--keys-only', '-w', 'json']);
  await run(['get', 'foo', '--prefix', '--print-value-only']);
  await run(['get', 'foo', '--prefix', '--print-value-only', '-w', 'json']);
  await run(['get', 'foo', '--prefix', '--sort-by', 'MODIFY', '--order', 'DESCEND']);
  await run(['get', 'foo', '--prefix', '--sort-by', 'value', '--order', 'ascend']);
  await run(['get', 'foo', '--prefix', '--sort-by', 'CREATE']);
  await run(['get', 'foo', '--prefix', '--sort-by', 'KEY', '--order', 'DESCEND']);
  await run(['get', 'foo', '--prefix', '--sort-by', 'VERSION', '--order', 'DESCEND', '-w', 'json']);
  await run(['get', 'foo', '--from-key']);
  await run(['get', '', '--from-key', '--keys-only']);
  await run(['get', 'foo', 'foo3']);
  await run(['get', '', '--prefix', '-w', 'json']);
  await run(['get', 'foo', '--rev', '2']);
  await run(['get', 'foo', '--rev=3', '-w', 'json']);
  await run(['get', 'foo', '--consistency', 's']);
  await run(['get', 'foo', '--consistency=s', '-w', 'fields']);
  await run(['g', 'foo']);
  await run(['--write-out', 'json', 'get', 'foo']);
  await run(['get', 'foo', '-wjson']);
  await run(['get', 'foo', '-w=fields']);
  await run(['put', 'foo', '--ignore-value']);
  await run(['get', 'foo', '-w', 'json']);
  await run(['put', 'nokey', '--ignore-value']);
  await run(['put', 'foo', 'v', '--ignore-value']);
  await run(['put', 'foo', 'newval', '--ignore-lease']);
  await run(['put', 'leased', 'v', '--lease', '1234abcd']);
  await run(['put', 'leased', 'v', '--lease', 'xyz']);
  await run(['put', '', 'empty-key']);
  await run(['get', '']);
  // Bad arguments, flags and values.
  await run(['get']);
  await run(['put']);
  await run(['put', 'only-key']);
  await run(['del']);
  await run(['del', 'a', 'b', 'c']);
  await run(['get', 'foo', '--prefix', '--from-key']);
  await run(['get', 'foo', 'zoo', '--prefix']);
  await run(['del', 'foo', 'zoo', '--from-key']);
  await run(['del', 'foo', '--prefix', '--from-key']);
  await run(['get', 'foo', '--consistency', 'x']);
  await run(['get', 'foo', '--order', 'sideways']);
  await run(['get', 'foo', '--sort-by', 'SIZE']);
  await run(['get', 'foo', '--limit', 'abc']);
  await run(['get', 'foo', '--limit']);
  await run(['get', 'foo', '--rev', '0x10']);
  await run(['get', 'foo', '--prefix=maybe']);
  await run(['get', 'foo', '--bogus']);
  await run(['get', 'foo', '-x']);
  await run(['get', 'foo', '-w']);
  await run(['get', 'foo', '---x']);
  await run(['get', 'foo', '--dial-timeout', 'abc']);
  await run(['get', 'foo', '--command-timeout=5']);
  await run(['get', 'foo', '--count-only']);
  await run(['get', 'foo', '-w', 'yaml']);
  await run(['bogus']);
  await run(['gett', 'foo']);
  await run(['l', 'foo']);
  await run(['compaction']);
  await run(['compaction', 'abc']);
  await run(['compaction', '1', '2']);
  // Help.
  for (const command of [['get'], ['put'], ['del'], ['txn'], ['compaction'], ['lease'], ['member'], ['endpoint'], ['alarm'], ['snapshot'], ['endpoint', 'hashkv'], ['lease', 'keep-alive']]) {
    await run([...command, '--help']);
  }
  await run(['get', '-h']);
  await run(['lease', 'bogus']);
  // Environment variables.
  await run(['get', 'foo'], { env: { ETCDCTL_WRITE_OUT: 'json' } });
  await run(['get', 'foo'], { env: { ETCDCTL_WRITE_OUT: 'fields', ETCDCTL_HEX: 'true' } });
  await run(['get', 'foo'], { env: { ETCDCTL_WRITE_OUT: 'yaml' } });
  await run(['get', 'foo'], { env: { ETCDCTL_DIAL_TIMEOUT: 'soon' } });
  await run(['get', 'foo', '-w', 'simple'], { env: { ETCDCTL_WRITE_OUT: 'json' } });
  await run(['get', 'foo'], { env: { ETCDCTL_BOGUS: '1' } });
  await run(['get', 'foo'], { env: { ETCDCTL_PREFIX: 'true' } });
  await run(['get'], { env: { ETCDCTL_BOGUS: '1' } });
  // Txn: every compare target, branches, formats, interactive prompts, errors.
  await run(['txn', '-w', 'json'], { input: txnSuccess });
  await run(['txn'], { input: txnFailure });
  for (const format of formats) await run(['txn', '-w', format], { input: txnFailure });
  await run(['txn'], { input: txnCreate });
  await run(['txn'], { input: txnCreate });
  await run(['txn', '-i'], { input: txnCreate });
  await run(['txn', '--interactive', '-w', 'fields'], { input: 'val("foo") != "x"\nversion("foo") > "0"\n\nget foo --prefix --limit 1\ndel zoo --prev-kv\n\n\n' });
  await run(['txn'], { input: 'c("a/b") < "100"\nm("a/b") = "0"\n\n\n\n' });
  await run(['txn'], { input: '\n' + Array.from({ length: 129 }, (_, i) => `put many-${i} x`).join('\n') + '\n\n\n' });
  await run(['txn'], { input: '\nput dup 1\nput dup 2\n\n\n' });
  await run(['txn'], { input: '\n"put" "quoted key" "quoted \\"value\\""\np a 1\ng a\nd a\n\n\n' });
  await run(['txn'], { input: '  value("foo")  =   "newval"   trailing  \n\n\n\n' });
  await run(['txn', 'extra']);
  await run(['txn'], { input: '' });
  await run(['txn'], { input: '\n\nput a 1' });
  for (const bad of ['value("foo")="bar"', 'value(foo) = "bar"', 'value("foo") = bar', 'value("foo")', 'bogus("a") = "1"', 'ver("a") = "x"', 'value "foo" = "bar"', 'value("foo" = "bar"', 'c("a") < "5x"']) {
    await run(['txn'], { input: `${bad}\n\n\n\n` });
  }
  for (const bad of ['put a', 'put a 1 --bogus', 'foo a b', 'get', 'get a --prefix --from-key', 'x', 'del a b c', 'put a 1 --lease zz', 'get a --limit x', 'del a --nope']) {
    await run(['txn'], { input: `\n${bad}\n\n\n` });
  }
  // Deletes and compaction.
  await run(['del', 'zoo']);
  await run(['del', 'zoo']);
  await run(['del', 'foo', '--prefix', '--prev-kv']);
  for (const format of formats) await run(['del', 'many-1', '--prev-kv', '-w', format]);
  await run(['del', 'many-', '--prefix', '-w', 'json']);
  await run(['del', 'a', '--from-key', '-w', 'json']);
  await run(['get', '', '--prefix', '-w', 'json']);
  await run(['put', 'after', 'delete']);
  await run(['get', 'foo', '--rev', '5', '--prefix', '-w', 'json']);
  await run(['compaction', '5']);
  await run(['compaction', '5']);
  await run(['compaction', '100000']);
  await run(['get', 'foo', '--rev', '4']);
  await run(['get', 'foo', '--rev', '5', '--prefix']);
  await run(['get', 'foo', '--rev', '100000']);
  await run(['compaction', '--physical', '8']);
  await run(['get', '', '--prefix', '--rev', '8', '-w', 'json']);
  await run(['del', '', '--prefix']);
  await run(['get', '', '--prefix', '-w', 'fields']);
};

