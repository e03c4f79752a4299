/**
 * The pieces that make hfctl's output etcdctl's, checked against what Go
 * and etcdctl 3.4 print (expected values taken from their output): Go
 * quoting, rounding, durations, sizes, JSON escaping, tabwriter help
 * layout, tables, flag parsing and its errors, the txn grammar's scanning,
 * and the v2 key mapping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from '../src/cli/command.js';
import { Flag, FlagError, FlagSet, HelpRequested } from '../src/cli/flags.js';
import { argify, goUnquote, scanCompareOperands } from '../src/cli/go-scan.js';
import { parseCsvRecord, parseGoDuration, parseGoInt } from '../src/cli/values.js';
import { CliExit } from '../src/cli/exit.js';
import { parseCompare } from '../src/commands/txn.js';
import { goDuration, goFixed, goQuote, hex16, hexSpace16, humanizeBytes } from '../src/format/go.js';
import { jsonString } from '../src/format/json.js';
import { renderTable } from '../src/format/table.js';
import { TabWriter } from '../src/format/tabwriter.js';
import { cleanKey, V2Error } from '../src/v2/store.js';

test('Go quoting (%q) of keys and values', () => {
  assert.equal(goQuote('foo'), '"foo"');
  assert.equal(goQuote('quote"key'), '"quote\\"key"');
  assert.equal(goQuote('tab\tvalue\n'), '"tab\\tvalue\\n"');
  assert.equal(goQuote('ünïcødé 値'), '"ünïcødé 値"');
  assert.equal(goQuote(Buffer.from([0x00, 0x7f, 0xff, 0x41])), '"\\x00\\x7f\\xffA"');
  assert.equal(goQuote('\u200b'), '"\\u200b"');
  assert.equal(goQuote('\u{1F600}'), '"\u{1F600}"');
});

test('Go %.Nf rounds the exact binary value, ties to even', () => {
  assert.equal(goFixed(20.5, 0), '20');
  assert.equal(goFixed(21.5, 0), '22');
  assert.equal(goFixed(0.123816, 6), '0.123816');
  assert.equal(goFixed(2.675, 2), '2.67'); // 2.675 is 2.67499999... in binary
  assert.equal(goFixed(0, 6), '0.000000');
  assert.equal(goFixed(1e21, 1), '1000000000000000000000.0');
});

test('Go durations and go-humanize sizes', () => {
  assert.equal(goDuration(0n), '0s');
  assert.equal(goDuration(999n), '999ns');
  assert.equal(goDuration(1_221_338n), '1.221338ms');
  assert.equal(goDuration(123_000n), '123µs');
  assert.equal(goDuration(5_000_000_000n), '5s');
  assert.equal(goDuration(60_000_000_000n), '1m0s');
  assert.equal(goDuration(3_723_500_000_000n), '1h2m3.5s');
  assert.equal(humanizeBytes(9n), '9 B');
  assert.equal(humanizeBytes(20_480n), '20 kB');
  assert.equal(humanizeBytes(61_440n), '61 kB');
  assert.equal(humanizeBytes(1_500_000n), '1.5 MB');
  assert.equal(hex16(0x1234abcdn), '000000001234abcd');
  assert.equal(hex16(-1n), '-000000000000001');
  assert.equal(hexSpace16(0xabcn), '             abc');
});

test('JSON strings escape as encoding/json does', () => {
  assert.equal(jsonString('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(jsonString('<&>'), '"\\u003c\\u0026\\u003e"');
  assert.equal(jsonString('\u0001\n\t\u2028'), '"\\u0001\\n\\t\\u2028"');
  assert.equal(jsonString(Buffer.from([0x61, 0xff, 0x62])), '"a\\ufffdb"');
});

test('help text is laid out by a tabwriter as etcdctl lays it out', () => {
  const writer = new TabWriter();
  writer.write('COMMANDS:\n\tgrant\tCreates leases\n\tkeep-alive\tKeeps leases alive (renew)\n\nOPTIONS:\n  -h, --help[=false]\thelp for lease\n');
  assert.equal(writer.flush(), 'COMMANDS:\n\tgrant\t\tCreates leases\n\tkeep-alive\tKeeps leases alive (renew)\n\nOPTIONS:\n  -h, --help[=false]\thelp for lease\n');
  const root = new Command({ use: 'etcdctl', short: 'x', persistentFlags: [{ name: 'endpoints', kind: 'stringSlice', defaultText: '127.0.0.1:2379', usage: 'gRPC endpoints' }] });
  const lease = new Command({ use: 'lease <subcommand>', short: 'Lease related commands', subcommands: [new Command({ use: 'grant <ttl>', short: 'Creates leases', run: async () => {} })] });
  root.addCommand(lease);
  root.programInfo = { version: '3.4.23', apiVersion: '3.4' };
  assert.equal(
    lease.usage(),
    'NAME:\n\tlease - Lease related commands\n\nUSAGE:\n\tetcdctl lease <subcommand> [flags]\n\nAPI VERSION:\n\t3.4\n\n\nCOMMANDS:\n\tgrant\tCreates leases\n\nOPTIONS:\n  -h, --help[=false]\thelp for lease\n\nGLOBAL OPTIONS:\n      --endpoints=[127.0.0.1:2379]\tgRPC endpoints\n\n',
  );
});

test('tables are drawn as etcdctl draws them', () => {
  assert.equal(
    renderTable(['endpoint', 'hash'], [['127.0.0.1:2379', '3305255506']]),
    '+----------------+------------+\n|    ENDPOINT    |    HASH    |\n+----------------+------------+\n| 127.0.0.1:2379 | 3305255506 |\n+----------------+------------+\n',
  );
  // Cells wrap at 30 columns on spaces.
  const wrapped = renderTable(['errors'], [['memberID:13803658152347727308 alarm:NOSPACE']]);
  assert.equal(wrapped, '+--------------------------------+\n|             ERRORS             |\n+--------------------------------+\n|  memberID:13803658152347727308 |\n|                  alarm:NOSPACE |\n+--------------------------------+\n');
});

test('flags parse as pflag parses them, with its errors', () => {
  const set = new FlagSet();
  for (const spec of [
    { name: 'limit', kind: 'int64' as const, usage: '' },
    { name: 'prefix', kind: 'bool' as const, usage: '' },
    { name: 'write-out', shorthand: 'w', kind: 'string' as const, defaultText: 'simple', usage: '' },
    { name: 'endpoints', kind: 'stringSlice' as const, defaultText: '127.0.0.1:2379', usage: '' },
    { name: 'dial-timeout', kind: 'duration' as const, defaultText: '2s', usage: '' },
  ]) {
    set.add(new Flag(spec));
  }
  const parsed = set.parse(['get', 'foo', '--limit=0x10', '-wjson', '--prefix', '--endpoints', 'a:1,b:2', '--endpoints=c:3', '--', '--not-a-flag']);
  assert.deepEqual(parsed, { args: ['get', 'foo', '--not-a-flag'], argsLenAtDash: 2 });
  assert.equal(set.get('limit')!.int, 16n);
  assert.equal(set.get('write-out')!.string, 'json');
  assert.equal(set.get('prefix')!.bool, true);
  assert.deepEqual(set.get('endpoints')!.strings, ['a:1', 'b:2', 'c:3']);
  const withFlags = (args: string[]): string => {
    const fresh = new FlagSet();
    for (const name of ['limit', 'prefix', 'write-out', 'dial-timeout']) fresh.add(new Flag(set.get(name)!.spec));
    try {
      fresh.parse(args);
      return 'no error';
    } catch (caught) {
      return caught instanceof HelpRequested ? 'help' : (caught as FlagError).message;
    }
  };
  assert.equal(withFlags(['--bogus']), 'unknown flag: --bogus');
  assert.equal(withFlags(['--limit', 'abc']), 'invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing "abc": invalid syntax');
  assert.equal(withFlags(['--limit']), 'flag needs an argument: --limit');
  assert.equal(withFlags(['-w']), "flag needs an argument: 'w' in -w");
  assert.equal(withFlags(['-x']), "unknown shorthand flag: 'x' in -x");
  assert.equal(withFlags(['--prefix=maybe']), 'invalid argument "maybe" for "--prefix" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
  assert.equal(withFlags(['--dial-timeout', 'abc']), 'invalid argument "abc" for "--dial-timeout" flag: time: invalid duration "abc"');
  assert.equal(withFlags(['---x']), 'bad flag syntax: ---x');
  assert.equal(withFlags(['-h']), 'help');
  assert.equal(withFlags(['-w', 'x', '--limit', '99999999999999999999']), 'invalid argument "99999999999999999999" for "--limit" flag: strconv.ParseInt: parsing "99999999999999999999": value out of range');
});

test('Go value parsers', () => {
  assert.equal(parseGoInt('-9223372036854775808', 0), -(2n ** 63n));
  assert.equal(parseGoInt('0o17', 0), 15n);
  assert.equal(parseGoInt('017', 0), 15n);
  assert.equal(parseGoInt('1_000', 0), 1000n);
  assert.throws(() => parseGoInt('1__0', 0), /invalid syntax/);
  assert.equal(parseGoInt('7fffffffffffffff', 16), 2n ** 63n - 1n);
  assert.throws(() => parseGoInt('8000000000000000', 16), /value out of range/);
  assert.equal(parseGoInt('ffffffffffffffff', 16, 64, true), 2n ** 64n - 1n);
  assert.equal(parseGoDuration('1m30.5s'), 90_500_000_000n);
  assert.equal(parseGoDuration('250ms'), 250_000_000n);
  assert.throws(() => parseGoDuration('5'), /time: missing unit in duration "5"/);
  assert.throws(() => parseGoDuration('5x'), /time: unknown unit "x" in duration "5x"/);
  assert.deepEqual(parseCsvRecord('a,"b,c",d'), ['a', 'b,c', 'd']);
  assert.deepEqual(parseCsvRecord(''), []);
});

test('txn input is scanned as etcdctl scans it (fmt.Sscanf and argify)', () => {
  const scan = (text: string): string => {
    const { count, key, op, value } = scanCompareOperands(text);
    return `${count} ${key.toString()} ${op} ${value.toString()}`;
  };
  assert.equal(scan('"foo") = "bar"'), '3 foo = bar');
  assert.equal(scan('"foo")="bar"'), '1 foo  ');
  assert.equal(scan('foo) = "bar"'), '0   ');
  assert.equal(scan('"foo") = bar'), '2 foo = ');
  assert.equal(scan('"foo"'), '1 foo  ');
  assert.equal(scan('"fo\\x6f") = "b\\"r" trailing'), '3 foo = b"r');
  assert.deepEqual(argify('put "quoted key" "v \\"w\\"" plain \'single q\''), ['put', 'quoted key', 'v "w"', 'plain', 'single q']);
  assert.equal(goUnquote('"\\u00e9\\101\\t"').toString(), 'éA\t');
  assert.throws(() => goUnquote('"\\q"'), /invalid syntax/);
  const message = (line: string): string => {
    try {
      parseCompare(line);
      return 'ok';
    } catch (error) {
      return `${(error as CliExit).code} ${(error as CliExit).message}`;
    }
  };
  assert.equal(message('value("foo")="bar"'), '3 malformed comparison: value("foo")="bar"; got value("foo")  ""');
  assert.equal(message('ver("a") = "x"'), '3 invalid txn compare request: ver("a") = "x"');
  assert.equal(message('bogus("a") = "1"'), '3 malformed comparison: bogus("a") = "1" (unknown target bogus)');
  assert.equal(message('value "foo" = "bar"'), '3 malformed comparison: value "foo" = "bar"');
  assert.equal(message('value("a") == "b"'), '3 malformed comparison: value("a") == "b" (unknown operator ==)');
  assert.equal(message('lease("a") = "694d7f5fd3b2a40b"'), 'ok');
  assert.equal(message('mod("a") > "10"'), 'ok');
});

test('v2 keys are cleaned as the v2 store cleans them', () => {
  assert.equal(cleanKey('foo'), '/foo');
  assert.equal(cleanKey('/foo/'), '/foo');
  assert.equal(cleanKey('//a/./b/../c'), '/a/c');
  assert.equal(cleanKey('/'), '/');
  assert.equal(cleanKey(''), '/');
  assert.equal(new V2Error(100, '/foo', 12n).message, '100: Key not found (/foo) [12]');
  assert.equal(new V2Error(101, '[a != b]', 7n).message, '101: Compare failed ([a != b]) [7]');
});
