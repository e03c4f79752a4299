/**
 * watch [options] [key or prefix] [range_end] [--] [exec-command arg1 ...]
 * and watch -i (etcdctl/ctlv3/command/watch_command.go), over the client's
 * watch manager (which resumes a broken stream without losing or repeating
 * a revision, as clientv3 does). With a command after "--", the command runs
 * once per event with ETCD_WATCH_REVISION, ETCD_WATCH_EVENT_TYPE,
 * ETCD_WATCH_KEY and ETCD_WATCH_VALUE set as etcdctl sets them (Go-quoted).
 * ETCDCTL_WATCH_KEY / ETCDCTL_WATCH_RANGE_END stand in for the key and range.
 */
import { spawn } from 'node:child_process';
import { CompactedError, WatchCanceledError, type Watch, type WatchBatch } from '@holdfast/client';
import { mvccpb } from '@holdfast/proto';
import { Command } from '../cli/command.js';
import { CliExit, ExitCode, exitWithError } from '../cli/exit.js';
import { FlagError, FlagSet, Flag, HelpRequested, type FlagSpec } from '../cli/flags.js';
import { argify, UnquoteError } from '../cli/go-scan.js';
import { errLine, outLine } from '../cli/io.js';
import { LineReader } from '../cli/stdin.js';
import { etcdctlMessage } from '../errors.js';
import { goQuote } from '../format/go.js';
import type { Printer, WatchResponseView } from '../format/printer.js';
import type { HfClient } from '../session.js';
import { withSession } from './common.js';

const watchFlagSpecs: FlagSpec[] = [
  { name: 'interactive', shorthand: 'i', kind: 'bool', usage: 'Interactive mode' },
  { name: 'prefix', kind: 'bool', usage: 'Watch on a prefix if prefix is set' },
  { name: 'rev', kind: 'int64', usage: 'Revision to start watching' },
  { name: 'prev-kv', kind: 'bool', usage: 'get the previous key-value pair before the event happens' },
];

const errBadArgsNum = 'bad number of arguments';
const errBadArgsNumConflictEnv = 'bad number of arguments (found conflicting environment key)';
const errBadArgsNumSeparator = 'bad number of arguments (found separator --, but no commands)';
const errBadArgsInteractiveWatch = "args[0] must be 'watch' for interactive calls";

/** The options of one watch (etcdctl keeps them in package variables). */
interface WatchSettings {
  prefix: boolean;
  rev: bigint;
  prevKv: boolean;
}

class WatchArgsError extends Error {}

/** A fresh set of the watch flags (NewWatchCommand().Flags(): no help flag, no global flags). */
function watchFlagSet(): FlagSet {
  const set = new FlagSet();
  for (const spec of watchFlagSpecs) set.add(new Flag(spec));
  return set;
}

function parseFlags(set: FlagSet, args: readonly string[]): string[] {
  try {
    return set.parse(args).args;
  } catch (error) {
    if (error instanceof HelpRequested) throw new WatchArgsError('pflag: help requested');
    if (error instanceof FlagError) throw new WatchArgsError(error.message);
    throw error;
  }
}

/**
 * etcdctl's parseWatchArgs: which words are the key and range, which are the
 * command to run, checked against ETCDCTL_WATCH_KEY. Throws WatchArgsError.
 */
function parseWatchArgs(
  osArgs: readonly string[],
  commandArgs: readonly string[],
  envKey: string,
  envRange: string,
  interactive: boolean,
  settings: WatchSettings,
): { watchArgs: string[]; execArgs: string[] } {
  let rawArgs = [...osArgs];
  let watchArgs = [...commandArgs];
  const watchIndex = rawArgs.indexOf('watch');
  if (watchIndex >= 0) rawArgs = rawArgs.slice(watchIndex + 1);
  if (interactive) {
    if (watchArgs[0] !== 'watch') throw new WatchArgsError(errBadArgsInteractiveWatch);
    watchArgs = watchArgs.slice(1);
  }
  if (!interactive) {
    const execIdx = rawArgs.indexOf('--');
    const execExist = execIdx >= 0;
    if (execExist && execIdx === rawArgs.length - 1) throw new WatchArgsError(errBadArgsNumSeparator);
    if (!execExist && rawArgs.length < 1 && envKey === '') throw new WatchArgsError(errBadArgsNum);
    if (execExist && envKey !== '') {
      let ridx = rawArgs.length - 1;
      for (let widx = watchArgs.length - 1; widx >= 0; widx--) {
        if (ridx >= 0 && watchArgs[widx] === rawArgs[ridx]) {
          ridx--;
          continue;
        }
        if (ridx === execIdx) throw new WatchArgsError(errBadArgsNumConflictEnv);
      }
    }
    if (!execExist && watchArgs.length > 0 && envKey !== '') throw new WatchArgsError(errBadArgsNumConflictEnv);
  } else {
    const execIdx = watchArgs.indexOf('--');
    const execExist = execIdx >= 0;
    if (execExist && execIdx === watchArgs.length - 1) throw new WatchArgsError(errBadArgsNumSeparator);
    const positional = parseFlags(watchFlagSet(), watchArgs);
    if (!execExist && envKey === '' && positional.length < 1) throw new WatchArgsError(errBadArgsNum);
    if (!execExist && positional.length > 0 && envKey !== '') throw new WatchArgsError(errBadArgsNumConflictEnv);
  }
  const argsWithSep = interactive ? watchArgs : rawArgs;
  const sepIndex = argsWithSep.indexOf('--');
  const execArgs = sepIndex >= 0 ? argsWithSep.slice(sepIndex + 1) : [];
  if (interactive) {
    const set = watchFlagSet();
    watchArgs = parseFlags(set, argsWithSep);
    settings.prefix = set.get('prefix')!.bool;
    settings.rev = set.get('rev')!.int;
    settings.prevKv = set.get('prev-kv')!.bool;
  }
  if (envKey !== '') watchArgs = [envKey, ...(envRange !== '' ? [envRange] : []), ...watchArgs];
  if (sepIndex < 0) return { watchArgs, execArgs: [] };
  // The command's words were taken as arguments too: drop them.
  let endIdx = watchArgs.length - 1;
  for (; endIdx >= 0; endIdx--) if (watchArgs[endIdx] === argsWithSep[sepIndex + 1]) break;
  return { watchArgs: watchArgs.slice(0, Math.max(0, endIdx)), execArgs };
}

/** etcdctl's getWatchChan. Throws WatchArgsError. */
function openWatch(client: HfClient, args: readonly string[], settings: WatchSettings): Watch {
  if (args.length < 1) throw new WatchArgsError(errBadArgsNum);
  const key = args[0]!;
  if (args.length === 2 && settings.prefix) throw new WatchArgsError('`range_end` and `--prefix` are mutually exclusive');
  return client.watch(key, {
    ...(args.length === 2 ? { rangeEnd: args[1]! } : {}),
    ...(settings.prefix ? { prefix: true } : {}),
    ...(settings.rev > 0n ? { startRevision: settings.rev } : {}),
    prevKv: settings.prevKv,
  });
}

function toView(batch: WatchBatch): WatchResponseView {
  return {
    header: batch.header,
    events: batch.events.map((event) => ({
      type: event.type === 'delete' ? mvccpb.Event_EventType.DELETE : mvccpb.Event_EventType.PUT,
      kv: event.kv,
      prevKv: event.prevKv,
    })),
    compactRevision: 0n,
    canceled: false,
    created: false,
  };
}

/**
 * What clientv3's WatchResponse.Err() says for a watch the server ended:
 * a reason given when the watch was refused at creation comes as it is; one
 * given later is wrapped as a FailedPrecondition status (unless etcd knows it).
 */
function cancelMessage(error: unknown, created: boolean): string {
  if (error instanceof WatchCanceledError) {
    const reason = error.message === 'watch canceled by the server' ? '' : error.message;
    if (reason === '') return 'etcdserver: mvcc: required revision is a future revision';
    if (!created) return reason;
    const known = etcdctlMessage(error);
    return known.startsWith('etcdserver: ') ? known : `rpc error: code = FailedPrecondition desc = ${reason}`;
  }
  return etcdctlMessage(error);
}

/** Runs the command for one event, as etcdctl does; a failure ends hfctl with exit 1. */
function runForEvent(execArgs: readonly string[], revision: bigint, type: string, key: Buffer, value: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const env = {
      ...process.env,
      ETCD_WATCH_REVISION: revision.toString(),
      ETCD_WATCH_EVENT_TYPE: goQuote(type),
      ETCD_WATCH_KEY: goQuote(key),
      ETCD_WATCH_VALUE: goQuote(value),
    };
    const quoted = `[${execArgs.map((arg) => goQuote(arg)).join(' ')}]`;
    const child = spawn(execArgs[0]!, execArgs.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env });
    child.once('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code === 'ENOENT' ? `exec: ${goQuote(execArgs[0]!)}: executable file not found in $PATH` : error.message;
      errLine(`command ${quoted} error (${reason})`);
      process.exit(ExitCode.error);
    });
    child.once('exit', (code, signal) => {
      if (code === 0) return resolve();
      errLine(`command ${quoted} error (${signal !== null ? `signal: ${signalName(signal)}` : `exit status ${code}`})`);
      process.exit(ExitCode.error);
    });
  });
}

function signalName(signal: NodeJS.Signals): string {
  const names: Partial<Record<NodeJS.Signals, string>> = { SIGKILL: 'killed', SIGTERM: 'terminated', SIGINT: 'interrupt', SIGSEGV: 'segmentation fault', SIGPIPE: 'broken pipe' };
  return names[signal] ?? signal;
}

/** etcdctl's printWatchCh: every response until the watch ends. */
async function printWatch(client: HfClient, watch: Watch, display: Printer, execArgs: readonly string[]): Promise<void> {
  let created = false;
  watch.created.then(
    () => (created = true),
    () => {},
  );
  try {
    for await (const batch of watch) {
      if (batch.progress) outLine(`progress notify: ${batch.header.revision}`);
      display.watch(toView(batch));
      if (execArgs.length > 0) {
        for (const event of batch.events) {
          await runForEvent(execArgs, batch.header.revision, event.type === 'delete' ? 'DELETE' : 'PUT', event.kv.key, event.kv.value);
        }
      }
    }
  } catch (error) {
    if (error instanceof CliExit) throw error;
    errLine(`watch was canceled (${cancelMessage(error, created)})`);
    // The final (cancel) response: no events, and a header without a revision
    // (etcd sends none); the cluster, member and term are the server's.
    let header = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };
    try {
      header = { ...(await client.get('\x00', { countOnly: true })).header, revision: 0n };
    } catch {
      // Printed with a zero header then.
    }
    display.watch({ header, events: [], compactRevision: error instanceof CompactedError ? (error.compactRevision ?? 0n) : 0n, canceled: true, created: false });
  }
}

async function interactive(client: HfClient, display: Printer, osArgs: readonly string[], envKey: string, envRange: string): Promise<never> {
  const reader = new LineReader();
  const watches: Watch[] = [];
  for (;;) {
    const next = await reader.readLine();
    if (next.eof) exitWithError(ExitCode.invalidInput, 'Error reading watch request line: EOF');
    const line = next.line.toString('utf8').replace(/\n$/, '');
    let args: string[];
    try {
      args = argify(line);
    } catch (error) {
      if (error instanceof UnquoteError) exitWithError(ExitCode.invalidInput, error.message);
      throw error;
    }
    if (args.length < 1) {
      errLine(`Invalid command: ${line} (watch and progress supported)`);
      continue;
    }
    switch (args[0]) {
      case 'watch': {
        if (args.length < 2 && envKey === '') {
          errLine(`Invalid command ${line} (command type or key is not provided)`);
          continue;
        }
        const settings: WatchSettings = { prefix: false, rev: 0n, prevKv: false };
        let parsed;
        try {
          parsed = parseWatchArgs(osArgs, args, envKey, envRange, true, settings);
        } catch (error) {
          if (error instanceof WatchArgsError) exitWithError(ExitCode.badArgs, error.message);
          throw error;
        }
        let watch: Watch;
        try {
          watch = openWatch(client, parsed.watchArgs, settings);
        } catch (error) {
          errLine(`Invalid command ${line} (${error instanceof Error ? error.message : String(error)})`);
          continue;
        }
        watches.push(watch);
        void printWatch(client, watch, display, parsed.execArgs).catch((error: unknown) => {
          if (error instanceof CliExit) {
            if (!error.silent) errLine(`Error: ${error.message}`);
            process.exit(error.code);
          }
        });
        break;
      }
      case 'progress':
        // One request per stream answers every watch on it.
        for (const watch of watches) if (!watch.done && watch.requestProgress()) break;
        break;
      default:
        errLine(`Invalid command ${line} (only support watch)`);
    }
  }
}

export function watchCommand(): Command {
  return new Command({
    use: 'watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]',
    short: 'Watches events stream on keys or prefixes',
    flags: watchFlagSpecs,
    run: withSession(async (session) => {
      const { command, args, rawArgs } = session.invocation;
      const envKey = process.env.ETCDCTL_WATCH_KEY ?? '';
      const envRange = process.env.ETCDCTL_WATCH_RANGE_END ?? '';
      if (envKey === '' && envRange !== '') exitWithError(ExitCode.badArgs, `ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${goQuote(envRange)}`);
      // ETCDCTL_WATCH_KEY and ETCDCTL_WATCH_RANGE_END are not global flags: no warning about them.
      const ignored = ['ETCDCTL_WATCH_KEY', 'ETCDCTL_WATCH_RANGE_END'];
      if (command.flag('interactive').bool) {
        const client = await session.client(ignored);
        await interactive(client, session.display, rawArgs, envKey, envRange);
      }
      const settings: WatchSettings = { prefix: command.flag('prefix').bool, rev: command.flag('rev').int, prevKv: command.flag('prev-kv').bool };
      let parsed;
      try {
        parsed = parseWatchArgs(rawArgs, args, envKey, envRange, false, settings);
      } catch (error) {
        if (error instanceof WatchArgsError) exitWithError(ExitCode.badArgs, error.message);
        throw error;
      }
      const client = await session.client(ignored);
      let watch: Watch;
      try {
        watch = openWatch(client, parsed.watchArgs, settings);
      } catch (error) {
        if (error instanceof WatchArgsError) exitWithError(ExitCode.badArgs, error.message);
        throw error;
      }
      await printWatch(client, watch, session.display, parsed.execArgs);
      exitWithError(ExitCode.interrupted, 'watch is canceled by the server');
    }),
  });
}
