/**
 * lock <name> [command...] and elect <name> [proposal] | elect -l <name>
 * (etcdctl/ctlv3/command/{lock,elect}_command.go), over @holdfast/recipes'
 * Session, Mutex and Election, which use Go clientv3/concurrency's keys
 * (<name>/<lease id in hex>): hfctl and etcdctl (and Go programs) lock and
 * elect together. SIGINT or SIGTERM gives up the lock or leadership
 * (unlock, resign) and ends with exit 0, as etcdctl does; while still
 * waiting it ends the wait with "context canceled". Like etcdctl, the
 * session's lease is left to expire rather than revoked.
 */
import { spawn } from 'node:child_process';
import { Election, Mutex, Session, SessionExpiredError } from '@holdfast/recipes';
import { etcdserverpb } from '@holdfast/proto';
import { Command } from '../cli/command.js';
import { ExitCode, exitWithError } from '../cli/exit.js';
import { etcdctlMessage } from '../errors.js';
import type { HfClient } from '../session.js';
import { rangeResponse, withSession } from './common.js';

/** Aborts on SIGINT or SIGTERM (etcdctl's signal.Notify), with "context canceled". */
function signalAbort(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('context canceled'));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Resolves with 'signal' or 'expired', whichever comes first. */
function untilSignalOrExpiry(signal: AbortSignal, session: Session): Promise<'signal' | 'expired'> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve('signal');
    if (!session.active) return resolve('expired');
    signal.addEventListener('abort', () => resolve('signal'), { once: true });
    session.signal.addEventListener('abort', () => resolve('expired'), { once: true });
  });
}

/** The message of a failed wait, as etcdctl prints it. */
function waitFailure(error: unknown, aborted: boolean): string {
  if (aborted) return 'context canceled';
  if (error instanceof SessionExpiredError) return 'session expired';
  return etcdctlMessage(error);
}

async function newSession(client: HfClient, ttlSeconds: number | undefined): Promise<Session> {
  try {
    return await Session.create(client, ttlSeconds === undefined ? {} : { ttlSeconds });
  } catch (error) {
    exitWithError(ExitCode.error, etcdctlMessage(error));
  }
}

/** Runs the command with the lock's variables first in its environment; resolves with Go's error text, if any. */
function runHolding(args: readonly string[], env: Record<string, string>): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(args[0]!, args.slice(1), { stdio: ['inherit', 'inherit', 'inherit'], env: { ...process.env, ...env } });
    child.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'ENOENT' ? `exec: "${args[0]!}": executable file not found in $PATH` : error.message),
    );
    child.once('exit', (code, signal) => resolve(code === 0 ? undefined : signal !== null ? `signal: ${signal === 'SIGKILL' ? 'killed' : signal === 'SIGTERM' ? 'terminated' : signal === 'SIGINT' ? 'interrupt' : signal}` : `exit status ${code}`));
  });
}

export function lockCommand(): Command {
  return new Command({
    use: 'lock <lockname> [exec-command arg1 arg2 ...]',
    short: 'Acquires a named lock',
    flags: [{ name: 'ttl', kind: 'int64', defaultText: '10', usage: 'timeout for session' }],
    run: withSession(async (context) => {
      const { args } = context.invocation;
      if (args.length === 0) exitWithError(ExitCode.badArgs, 'lock takes a lock name argument and an optional command to execute');
      const client = await context.client();
      const session = await newSession(client, Number(context.flag('ttl').int));
      const mutex = new Mutex(session, args[0]!);
      const { signal, dispose } = signalAbort();
      try {
        try {
          await mutex.lock({ signal });
        } catch (error) {
          exitWithError(ExitCode.error, waitFailure(error, signal.aborted));
        }
        const command = args.slice(1);
        if (command.length > 0) {
          const failure = await runHolding(command, { ETCD_LOCK_KEY: mutex.key!.toString('utf8'), ETCD_LOCK_REV: mutex.header!.revision.toString() });
          try {
            await mutex.unlock();
          } catch (error) {
            if (failure === undefined) exitWithError(ExitCode.error, etcdctlMessage(error));
          }
          if (failure !== undefined) exitWithError(ExitCode.error, failure);
          return;
        }
        let held: etcdserverpb.RangeResponse;
        try {
          held = rangeResponse(await client.get(mutex.key!, context.callOptions));
        } catch (error) {
          exitWithError(ExitCode.error, etcdctlMessage(error));
        }
        if (held.kvs.length === 0) exitWithError(ExitCode.error, 'lock lost on init');
        context.display.get(held);
        if ((await untilSignalOrExpiry(signal, session)) === 'expired') exitWithError(ExitCode.error, 'session expired');
        try {
          await mutex.unlock();
        } catch (error) {
          exitWithError(ExitCode.error, etcdctlMessage(error));
        }
      } finally {
        dispose();
        session.orphan();
      }
    }),
  });
}

export function electCommand(): Command {
  return new Command({
    use: 'elect <election-name> [proposal]',
    short: 'Observes and participates in leader election',
    flags: [{ name: 'listen', shorthand: 'l', kind: 'bool', usage: 'observation mode' }],
    run: withSession(async (context) => {
      const { args } = context.invocation;
      if (args.length !== 1 && args.length !== 2) exitWithError(ExitCode.badArgs, 'elect takes one election name argument and an optional proposal argument');
      const client = await context.client();
      const listen = context.flag('listen').bool;
      if (args.length === 1 && !listen) exitWithError(ExitCode.badArgs, 'no proposal argument but -l not set');
      if (args.length === 2 && listen) exitWithError(ExitCode.badArgs, 'proposal given but -l is set');
      const name = args[0]!;
      const session = await newSession(client, undefined);
      const { signal, dispose } = signalAbort();
      try {
        if (args.length === 1) {
          // Observe: every leader and every value it proclaims, until a signal.
          const election = new Election(session, name);
          let header: etcdserverpb.ResponseHeader | undefined;
          try {
            header = (await client.get(name, { countOnly: true, ...context.callOptions })).header;
            for await (const leader of election.observe({ signal })) {
              context.display.get({ header: { ...header, revision: leader.modRevision }, kvs: [leader], more: false, count: 0n });
            }
          } catch (error) {
            if (signal.aborted) return;
            exitWithError(ExitCode.error, etcdctlMessage(error));
          }
          if (!signal.aborted) exitWithError(ExitCode.error, 'elect: observer lost');
          return;
        }
        const election = new Election(session, name);
        try {
          await election.campaign(args[1]!, { signal });
        } catch (error) {
          exitWithError(ExitCode.error, waitFailure(error, signal.aborted));
        }
        let elected: etcdserverpb.RangeResponse;
        try {
          elected = rangeResponse(await client.get(election.key!, context.callOptions));
        } catch (error) {
          exitWithError(ExitCode.error, etcdctlMessage(error));
        }
        context.display.get(elected);
        if ((await untilSignalOrExpiry(signal, session)) === 'expired') exitWithError(ExitCode.error, 'elect: session expired');
        try {
          await election.resign();
        } catch (error) {
          exitWithError(ExitCode.error, etcdctlMessage(error));
        }
      } finally {
        dispose();
        session.orphan();
      }
    }),
  });
}
