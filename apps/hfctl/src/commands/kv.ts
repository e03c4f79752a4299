/**
 * get, put, del and compaction (etcdctl/ctlv3/command/{get,put,del,compaction}_command.go).
 * Arguments are checked before connecting, in etcdctl's order, so that the
 * same mistakes give the same messages.
 */
import { Op, type GetOptions, type Operation, type SortOrder, type SortTarget } from '@holdfast/client';
import { Command } from '../cli/command.js';
import { ExitCode, exitWithError } from '../cli/exit.js';
import type { FlagSpec } from '../cli/flags.js';
import { readAllStdin } from '../cli/stdin.js';
import { parseGoInt, ValueError } from '../cli/values.js';
import { goQuote } from '../format/go.js';
import { SimplePrinter } from '../format/printer.js';
import { deleteResponse, fail, putResponse, rangeResponse, withSession } from './common.js';

/** Reads a flag of a command by name. */
interface FlagValues {
  bool(name: string): boolean;
  string(name: string): string;
  int(name: string): bigint;
}

export function flagValues(command: Command): FlagValues {
  return {
    bool: (name) => command.flag(name).bool,
    string: (name) => command.flag(name).string,
    int: (name) => command.flag(name).int,
  };
}

export const getFlagSpecs: FlagSpec[] = [
  { name: 'consistency', kind: 'string', defaultText: 'l', usage: 'Linearizable(l) or Serializable(s)' },
  { name: 'order', kind: 'string', usage: 'Order of results; ASCEND or DESCEND (ASCEND by default)' },
  { name: 'sort-by', kind: 'string', usage: 'Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION' },
  { name: 'limit', kind: 'int64', usage: 'Maximum number of results' },
  { name: 'prefix', kind: 'bool', usage: 'Get keys with matching prefix' },
  { name: 'from-key', kind: 'bool', usage: 'Get keys that are greater than or equal to the given key using byte compare' },
  { name: 'rev', kind: 'int64', usage: 'Specify the kv revision' },
  { name: 'keys-only', kind: 'bool', usage: 'Get only the keys' },
  { name: 'print-value-only', kind: 'bool', usage: 'Only write values when using the "simple" output format' },
];

export const putFlagSpecs: FlagSpec[] = [
  { name: 'lease', kind: 'string', defaultText: '0', usage: 'lease ID (in hexadecimal) to attach to the key' },
  { name: 'prev-kv', kind: 'bool', usage: 'return the previous key-value pair before modification' },
  { name: 'ignore-value', kind: 'bool', usage: 'updates the key using its current value' },
  { name: 'ignore-lease', kind: 'bool', usage: 'updates the key using its current lease' },
];

export const delFlagSpecs: FlagSpec[] = [
  { name: 'prefix', kind: 'bool', usage: 'delete keys with matching prefix' },
  { name: 'prev-kv', kind: 'bool', usage: 'return deleted key-value pairs' },
  { name: 'from-key', kind: 'bool', usage: 'delete keys that are greater than or equal to the given key using byte compare' },
];

export const getUse = 'get [options] <key> [range_end]';
export const getShort = 'Gets the key or a range of keys';
export const putUse = 'put [options] <key> <value> (<value> can also be given from stdin)';
export const putShort = 'Puts the given key into the store';
export const putLong = `
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
`;
export const delUse = 'del [options] <key> [range_end]';
export const delShort = 'Removes the specified key or range of keys [key, range_end)';

const sortTargets: Record<string, SortTarget> = { CREATE: 'createRevision', KEY: 'key', MODIFY: 'modRevision', VALUE: 'value', VERSION: 'version', '': 'key' };

/** etcdctl's getGetOp: the key and the options of a get, or an exit for bad arguments. */
export function getOperation(flags: FlagValues, args: readonly string[]): Operation & { kind: 'get' } {
  if (args.length === 0) exitWithError(ExitCode.badArgs, 'get command needs one argument as key and an optional argument as range_end');
  const prefix = flags.bool('prefix');
  const fromKey = flags.bool('from-key');
  if (prefix && fromKey) exitWithError(ExitCode.badArgs, '`--prefix` and `--from-key` cannot be set at the same time, choose one');
  const consistency = flags.string('consistency');
  if (consistency !== 's' && consistency !== 'l') exitWithError(ExitCode.badFeature, `unknown consistency flag ${goQuote(consistency)}`);
  let key = args[0]!;
  let rangeEnd: string | undefined;
  if (args.length > 1) {
    if (prefix || fromKey) exitWithError(ExitCode.badArgs, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
    rangeEnd = args[1]!;
  }
  const limit = flags.int('limit');
  const revision = flags.int('rev');
  const orderText = flags.string('order');
  let order: SortOrder;
  switch (orderText.toUpperCase()) {
    case 'ASCEND':
      order = 'ascend';
      break;
    case 'DESCEND':
      order = 'descend';
      break;
    case '':
      order = 'none';
      break;
    default:
      exitWithError(ExitCode.badFeature, `bad sort order ${orderText}`);
  }
  const targetText = flags.string('sort-by');
  const target = sortTargets[targetText.toUpperCase()];
  if (target === undefined) exitWithError(ExitCode.badFeature, `bad sort target ${targetText}`);
  // clientv3's WithSort: the server already returns keys in ascending order.
  if (target === 'key' && order === 'ascend') order = 'none';
  let range: Pick<GetOptions, 'prefix' | 'fromKey' | 'rangeEnd'> = rangeEnd === undefined ? {} : { rangeEnd };
  if (prefix) {
    if (key.length === 0) {
      key = '\x00';
      range = { fromKey: true };
    } else range = { prefix: true };
  }
  if (fromKey) {
    if (key.length === 0) key = '\x00';
    range = { fromKey: true };
  }
  return Op.get(key, {
    ...range,
    // A limit <= 0 means none; so does one no store could reach.
    limit: limit > 0n && limit <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(limit) : 0,
    ...(revision > 0n ? { revision } : {}),
    serializable: consistency === 's',
    keysOnly: flags.bool('keys-only'),
    sort: { target, order },
  }) as Operation & { kind: 'get' };
}

/** argOrStdin for put's value. */
async function valueArgument(args: readonly string[], stdin: () => Promise<Buffer>): Promise<Buffer | undefined> {
  if (args.length > 1) return Buffer.from(args[1]!, 'utf8');
  const input = await stdin();
  return input.length === 0 ? undefined : input;
}

/** Parses a lease id as etcdctl does (hex int64), or exits with `message(parse error)`. */
export function parseHexId(text: string, message: (error: string) => string, unsigned = false): bigint {
  try {
    return parseGoInt(text, 16, 64, unsigned);
  } catch (error) {
    if (error instanceof ValueError) exitWithError(ExitCode.badArgs, message(error.message));
    throw error;
  }
}

/** etcdctl's getPutOp. */
export async function putOperation(flags: FlagValues, args: readonly string[], stdin: () => Promise<Buffer>): Promise<Operation & { kind: 'put' }> {
  const usage = 'put command needs 1 argument and input from stdin or 2 arguments';
  if (args.length === 0) exitWithError(ExitCode.badArgs, usage);
  const key = args[0]!;
  const ignoreValue = flags.bool('ignore-value');
  if (ignoreValue && args.length > 1) exitWithError(ExitCode.badArgs, "put command needs only 1 argument when 'ignore-value' is set");
  let value: Buffer = Buffer.alloc(0);
  if (!ignoreValue) {
    const given = await valueArgument(args, stdin);
    if (given === undefined) exitWithError(ExitCode.badArgs, usage);
    value = given;
  }
  const lease = parseHexId(flags.string('lease'), (error) => `bad lease ID (${error}), expecting ID in Hex`);
  return Op.put(key, value, {
    ...(lease !== 0n ? { lease } : {}),
    prevKv: flags.bool('prev-kv'),
    ignoreValue,
    ignoreLease: flags.bool('ignore-lease'),
  }) as Operation & { kind: 'put' };
}

/** etcdctl's getDelOp. */
export function deleteOperation(flags: FlagValues, args: readonly string[]): Operation & { kind: 'delete' } {
  if (args.length === 0 || args.length > 2) exitWithError(ExitCode.badArgs, 'del command needs one argument as key and an optional argument as range_end');
  const prefix = flags.bool('prefix');
  const fromKey = flags.bool('from-key');
  if (prefix && fromKey) exitWithError(ExitCode.badArgs, '`--prefix` and `--from-key` cannot be set at the same time, choose one');
  let key = args[0]!;
  let range: { prefix?: boolean; fromKey?: boolean; rangeEnd?: string } = {};
  if (args.length > 1) {
    if (prefix || fromKey) exitWithError(ExitCode.badArgs, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
    range = { rangeEnd: args[1]! };
  }
  if (prefix) {
    if (key.length === 0) {
      key = '\x00';
      range = { fromKey: true };
    } else range = { prefix: true };
  }
  if (fromKey) {
    if (key.length === 0) key = '\x00';
    range = { fromKey: true };
  }
  return Op.delete(key, { ...range, prevKv: flags.bool('prev-kv') }) as Operation & { kind: 'delete' };
}

export function getCommand(): Command {
  return new Command({
    use: getUse,
    short: getShort,
    flags: getFlagSpecs,
    run: withSession(async (session) => {
      const { command, args } = session.invocation;
      const flags = flagValues(command);
      const op = getOperation(flags, args);
      const client = await session.client();
      let response;
      try {
        response = rangeResponse(await client.get(op.key, { ...op.options, ...session.callOptions }));
      } catch (error) {
        fail(ExitCode.error, error);
      }
      if (flags.bool('print-value-only')) {
        const display = session.display;
        if (!(display instanceof SimplePrinter)) exitWithError(ExitCode.badArgs, 'print-value-only is only for `--write-out=simple`');
        display.valueOnly = true;
      }
      session.display.get(response);
    }),
  });
}

export function putCommand(): Command {
  return new Command({
    use: putUse,
    short: putShort,
    long: putLong,
    flags: putFlagSpecs,
    run: withSession(async (session) => {
      const { command, args } = session.invocation;
      const op = await putOperation(flagValues(command), args, readAllStdin);
      const client = await session.client();
      let response;
      try {
        response = putResponse(await client.put(op.key, op.value, { ...op.options, ...session.callOptions }));
      } catch (error) {
        fail(ExitCode.error, error);
      }
      session.display.put(response);
    }),
  });
}

export function delCommand(): Command {
  return new Command({
    use: delUse,
    short: delShort,
    flags: delFlagSpecs,
    run: withSession(async (session) => {
      const { command, args } = session.invocation;
      const op = deleteOperation(flagValues(command), args);
      const client = await session.client();
      let response;
      try {
        response = deleteResponse(await client.delete(op.key, { ...op.options, ...session.callOptions }));
      } catch (error) {
        fail(ExitCode.error, error);
      }
      session.display.del(response);
    }),
  });
}

export function compactionCommand(): Command {
  return new Command({
    use: 'compaction [options] <revision>',
    short: 'Compacts the event history in etcd',
    flags: [{ name: 'physical', kind: 'bool', usage: "'true' to wait for compaction to physically remove all old revisions" }],
    run: withSession(async (session) => {
      const { command, args } = session.invocation;
      if (args.length !== 1) exitWithError(ExitCode.badArgs, 'compaction command needs 1 argument');
      let revision: bigint;
      try {
        revision = parseGoInt(args[0]!, 10);
      } catch (error) {
        exitWithError(ExitCode.error, error instanceof Error ? error.message : String(error));
      }
      const client = await session.client();
      try {
        await client.compact(revision, { physical: command.flag('physical').bool, ...session.callOptions });
      } catch (error) {
        fail(ExitCode.error, error);
      }
      process.stdout.write(`compacted revision ${revision}\n`);
    }),
  });
}
