/**
 * The v2-style verbs of the etcd documents over the server's v2 keys HTTP
 * API (src/v2/store.ts sends what etcdctl's v2 client sends): set, mk,
 * update, rm, ls, mkdir, rmdir and exec-watch, printing what etcdctl 3.4
 * prints with ETCDCTL_API=2 (-o simple | extended | json), with its exit
 * codes (1 for bad arguments, 2 for unreachable endpoints, 4 for a server
 * error) and its error text ("Error:  100: Key not found (/foo) [7]", with
 * -o json too: etcdctl's JSON error branch never matches its client's errors).
 */
import { spawn } from 'node:child_process';
import { Command, type Invocation } from '../cli/command.js';
import { CliExit } from '../cli/exit.js';
import type { FlagSpec } from '../cli/flags.js';
import { errLine, outLine } from '../cli/io.js';
import { readAllStdin } from '../cli/stdin.js';
import { jsonBool, jsonObject, jsonStr, jsonString, jsonInt, type Encoded } from '../format/json.js';
import { Session } from '../session.js';
import { V2ClusterError, V2Store, V2TimeoutError, type V2Node, type V2Response } from '../v2/store.js';

/** etcdctl v2's exit codes (etcdctl/ctlv2/command/error.go). */
const V2Exit = { badArgs: 1, badConnection: 2, serverError: 4 } as const;

const outputFlag: FlagSpec = { name: 'output', shorthand: 'o', kind: 'string', defaultText: 'simple', usage: 'output response in the given format (`simple`, `extended` or `json`)' };
const ttlFlag: FlagSpec = { name: 'ttl', kind: 'int64', usage: 'key time-to-live in seconds' };

/** v2's handleError: "Error:  <error>" (two spaces: Println("Error: ", err)). */
function v2Fail(code: number, message: string): never {
  errLine(`Error:  ${message}`);
  throw new CliExit(code, '', true);
}

/**
 * etcdctl v2's handleError. Unreachable endpoints are its mustNewClient's
 * failed cluster sync (exit 2), which comes before any command.
 */
function failFromError(error: unknown): never {
  if (error instanceof V2ClusterError) {
    errLine(`Error:  ${error.message}`);
    errLine(error.detail());
    throw new CliExit(error.connectionFailed ? V2Exit.badConnection : V2Exit.serverError, '', true);
  }
  if (error instanceof V2TimeoutError) v2Fail(V2Exit.badConnection, error.message);
  v2Fail(V2Exit.serverError, error instanceof Error ? error.message : String(error));
}

function jsonNode(node: V2Node | undefined): string {
  if (node === undefined) return 'null';
  const fields: [string, Encoded][] = [
    ['key', jsonStr(node.key, false)],
    ['dir', jsonBool(node.dir)],
    ['value', jsonStr(node.value, false)],
    ['nodes', node.nodes === undefined ? 'null' : `[${node.nodes.map(jsonNode).join(',')}]`],
    ['createdIndex', jsonInt(node.createdIndex, false)],
    ['modifiedIndex', jsonInt(node.modifiedIndex, false)],
    ['expiration', node.expiration === undefined ? undefined : jsonString(node.expiration)],
    ['ttl', node.ttl === undefined ? undefined : jsonInt(node.ttl)],
  ];
  return jsonObject(fields);
}

/** printResponseKey (etcdctl/ctlv2/command/format.go). */
function printResponse(response: V2Response, format: string): void {
  switch (format) {
    case 'simple':
      if (response.action !== 'delete') outLine(response.node.value);
      else outLine(`PrevNode.Value: ${response.prevNode?.value ?? ''}`);
      break;
    case 'extended':
      outLine(`Key: ${response.node.key}`);
      outLine(`Created-Index: ${response.node.createdIndex}`);
      outLine(`Modified-Index: ${response.node.modifiedIndex}`);
      if (response.prevNode !== undefined) outLine(`PrevNode.Value: ${response.prevNode.value}`);
      outLine(`TTL: ${response.node.ttl ?? 0}`);
      outLine(`Index: ${response.index}`);
      if (response.action !== 'delete') {
        outLine('');
        outLine(response.node.value);
      }
      break;
    case 'json':
      outLine(jsonObject([['action', jsonString(response.action)], ['node', jsonNode(response.node)], ['prevNode', jsonNode(response.prevNode)]]));
      break;
    default:
      errLine(`Unsupported output format: ${format}`);
  }
}

interface V2Context {
  readonly session: Session;
  readonly args: string[];
  readonly invocation: Invocation;
  readonly output: string;
  readonly timeoutMs: number;
  int(name: string): bigint;
  bool(name: string): boolean;
  string(name: string): string;
}

function v2Command(use: string, short: string, flags: FlagSpec[], body: (context: V2Context) => Promise<void>, long?: string): Command {
  return new Command({
    use,
    short,
    ...(long === undefined ? {} : { long }),
    suggested: false,
    flags: [...flags, outputFlag],
    run: async (invocation) => {
      const session = new Session(invocation);
      try {
        const command = invocation.command;
        await body({
          session,
          args: invocation.args,
          invocation,
          output: command.flag('output').string,
          timeoutMs: session.commandTimeoutMs,
          int: (name) => command.flag(name).int,
          bool: (name) => command.flag(name).bool,
          string: (name) => command.flag(name).string,
        });
      } finally {
        session.close();
      }
    },
  });
}

/** The endpoints' v2 API (after the arguments were checked, as etcdctl does). */
async function storeOf(context: V2Context): Promise<V2Store> {
  const settings = await context.session.clientSettings();
  return new V2Store(settings.endpoints, Math.max(1, context.timeoutMs));
}

/** argOrStdin: the value argument, or all of stdin. */
async function valueOf(context: V2Context): Promise<string> {
  if (context.args.length > 1) return context.args[1]!;
  const input = (await readAllStdin()).toString('utf8');
  if (input === '') v2Fail(V2Exit.badArgs, 'value required');
  return input;
}

function keyOf(context: V2Context): string {
  if (context.args.length === 0) v2Fail(V2Exit.badArgs, 'key required');
  return context.args[0]!;
}

const ttlOf = (context: V2Context): number => Number(context.int('ttl'));

function setCommand(): Command {
  return v2Command(
    'set <key> <value>',
    'set the value of a key (v2 API)',
    [ttlFlag, { name: 'swap-with-value', kind: 'string', usage: 'previous value' }, { name: 'swap-with-index', kind: 'int64', usage: 'previous index' }],
    async (context) => {
      const key = keyOf(context);
      const value = await valueOf(context);
      const store = await storeOf(context);
      const prevValue = context.string('swap-with-value');
      const prevIndex = context.int('swap-with-index');
      try {
        const response = await store.set(key, value, {
          ttl: ttlOf(context),
          ...(prevValue !== '' ? { prevValue } : {}),
          ...(prevIndex > 0n ? { prevIndex } : {}),
        });
        printResponse(response, context.output);
      } catch (error) {
        failFromError(error);
      }
    },
    `Set sets the value of a key.
When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:
$ set -- <key> <value>`,
  );
}

function mkCommand(): Command {
  return v2Command(
    'mk <key> <value>',
    'make a new key with a given value (v2 API)',
    [{ name: 'in-order', kind: 'bool', usage: 'create in-order key under directory <key>' }, ttlFlag],
    async (context) => {
      const key = keyOf(context);
      const value = await valueOf(context);
      const store = await storeOf(context);
      try {
        const options = { ttl: ttlOf(context) };
        const response = context.bool('in-order') ? await store.createInOrder(key, value, options) : await store.set(key, value, { ...options, prevExist: 'noexist' });
        printResponse(response, context.output);
      } catch (error) {
        failFromError(error);
      }
    },
  );
}

function updateCommand(): Command {
  return v2Command('update <key> <value>', 'update an existing key with a given value (v2 API)', [ttlFlag], async (context) => {
    const key = keyOf(context);
    const value = await valueOf(context);
    const store = await storeOf(context);
    try {
      printResponse(await store.set(key, value, { ttl: ttlOf(context), prevExist: 'exist' }), context.output);
    } catch (error) {
      failFromError(error);
    }
  });
}

function rmCommand(): Command {
  return v2Command(
    'rm <key>',
    'remove a key or a directory (v2 API)',
    [
      { name: 'dir', kind: 'bool', usage: 'removes the key if it is an empty directory or a key-value pair' },
      { name: 'recursive', shorthand: 'r', kind: 'bool', usage: 'removes the key and all child keys(if it is a directory)' },
      { name: 'with-value', kind: 'string', usage: 'previous value' },
      { name: 'with-index', kind: 'int64', usage: 'previous index' },
    ],
    async (context) => {
      const key = keyOf(context);
      const store = await storeOf(context);
      const prevValue = context.string('with-value');
      const prevIndex = context.int('with-index');
      try {
        const response = await store.delete(key, {
          dir: context.bool('dir'),
          recursive: context.bool('recursive'),
          ...(prevValue !== '' ? { prevValue } : {}),
          ...(prevIndex > 0n ? { prevIndex } : {}),
        });
        if (!response.node.dir || context.output !== 'simple') printResponse(response, context.output);
      } catch (error) {
        failFromError(error);
      }
    },
  );
}

function mkdirCommand(): Command {
  return v2Command('mkdir <key>', 'make a new directory (v2 API)', [ttlFlag], async (context) => {
    const key = keyOf(context);
    const store = await storeOf(context);
    try {
      const response = await store.set(key, '', { ttl: ttlOf(context), dir: true, prevExist: 'noexist' });
      if (context.output !== 'simple') printResponse(response, context.output);
    } catch (error) {
      failFromError(error);
    }
  });
}

function rmdirCommand(): Command {
  return v2Command('rmdir <key>', 'removes the key if it is an empty directory or a key-value pair (v2 API)', [], async (context) => {
    const key = keyOf(context);
    const store = await storeOf(context);
    try {
      const response = await store.delete(key, { dir: true });
      if (!response.node.dir || context.output !== 'simple') printResponse(response, context.output);
    } catch (error) {
      failFromError(error);
    }
  });
}

function lsCommand(): Command {
  return v2Command(
    'ls [key]',
    'retrieve a directory (v2 API)',
    [
      { name: 'sort', kind: 'bool', usage: 'returns result in sorted order' },
      { name: 'recursive', shorthand: 'r', kind: 'bool', usage: 'returns all key names recursively for the given path' },
      { name: 'p', shorthand: 'p', kind: 'bool', usage: 'append slash (/) to directories' },
      { name: 'quorum', shorthand: 'q', kind: 'bool', usage: 'require quorum for get request' },
    ],
    async (context) => {
      const key = context.args[0] ?? '/';
      const store = await storeOf(context);
      let response: V2Response;
      try {
        response = await store.get(key, { recursive: context.bool('recursive'), sorted: context.bool('sort'), quorum: context.bool('quorum') });
      } catch (error) {
        failFromError(error);
      }
      if (context.output !== 'simple') {
        printResponse(response, context.output);
        return;
      }
      const slash = context.bool('p');
      const print = (node: V2Node): void => {
        outLine(node.dir && slash ? `${node.key}/` : node.key);
        for (const child of node.nodes ?? []) print(child);
      };
      if (!response.node.dir) outLine(response.node.key);
      for (const child of response.node.nodes ?? []) print(child);
    },
  );
}

function execWatchCommand(): Command {
  return v2Command(
    'exec-watch <key> [--] <command> [args...]',
    'watch a key for changes and exec an executable (v2 API)',
    [
      { name: 'after-index', kind: 'int64', usage: 'watch after the given index' },
      { name: 'recursive', shorthand: 'r', kind: 'bool', usage: 'watch all values for key and child keys' },
    ],
    async (context) => {
      const { args, argsLenAtDash } = context.invocation;
      if (args.length < 2) v2Fail(V2Exit.badArgs, 'key and command to exec required');
      const key = args[0]!;
      const command = argsLenAtDash > 0 ? args.slice(argsLenAtDash) : args.slice(1);
      if (command.length === 0) v2Fail(V2Exit.badArgs, 'key and command to exec required');
      process.once('SIGINT', () => process.exit(0));
      const store = await storeOf(context);
      try {
        for await (const response of store.watch(key, { afterIndex: context.int('after-index'), recursive: context.bool('recursive') })) {
          if (response.node.dir) {
            errLine(`Ignored dir ${response.node.key} change`);
            continue;
          }
          const child = spawn(command[0]!, command.slice(1), {
            stdio: ['ignore', 'inherit', 'inherit'],
            env: {
              ...process.env,
              ETCD_WATCH_ACTION: response.action,
              ETCD_WATCH_MODIFIED_INDEX: response.node.modifiedIndex.toString(),
              ETCD_WATCH_KEY: response.node.key,
              ETCD_WATCH_VALUE: response.node.value,
            },
          });
          child.once('error', (error) => {
            process.stderr.write(error.message);
            process.exit(1);
          });
        }
      } catch (error) {
        failFromError(error);
      }
    },
  );
}

export function v2Commands(): Command[] {
  return [setCommand(), mkCommand(), updateCommand(), rmCommand(), lsCommand(), mkdirCommand(), rmdirCommand(), execWatchCommand()];
}
