/**
 * lease grant | revoke | timetolive | list | keep-alive
 * (etcdctl/ctlv3/command/lease_command.go). Lease ids are hex int64s on the
 * command line and print as %016x; they are bigints throughout.
 */
import { etcdserverpb } from '@holdfast/proto';
import { Command } from '../cli/command.js';
import { ExitCode, exitWithError } from '../cli/exit.js';
import { outLine } from '../cli/io.js';
import { parseGoInt, ValueError } from '../cli/values.js';
import { hex16 } from '../format/go.js';
import { SimplePrinter } from '../format/printer.js';
import type { HfClient } from '../session.js';
import { fail, noDeadlineMs, withSession } from './common.js';
import { parseHexId } from './kv.js';

export function leaseIdFromArgument(text: string): bigint {
  return parseHexId(text, (error) => `bad lease ID arg (${error}), expecting ID in Hex`);
}

function grantCommand(): Command {
  return new Command({
    use: 'grant <ttl>',
    short: 'Creates leases',
    run: withSession(async (session) => {
      const { args } = session.invocation;
      if (args.length !== 1) exitWithError(ExitCode.badArgs, 'lease grant command needs TTL argument');
      let ttl: bigint;
      try {
        ttl = parseGoInt(args[0]!, 10);
      } catch (error) {
        if (!(error instanceof ValueError)) throw error;
        exitWithError(ExitCode.badArgs, `bad TTL (${error.message})`);
      }
      const client = await session.client();
      let response: etcdserverpb.LeaseGrantResponse;
      try {
        response = await client.call(etcdserverpb.LeaseService.leaseGrant, { TTL: ttl, ID: 0n }, session.callOptions);
      } catch (error) {
        fail(ExitCode.error, error, (message) => `failed to grant lease (${message})`);
      }
      session.display.grant(response);
    }),
  });
}

function revokeCommand(): Command {
  return new Command({
    use: 'revoke <leaseID>',
    short: 'Revokes leases',
    run: withSession(async (session) => {
      const { args } = session.invocation;
      if (args.length !== 1) exitWithError(ExitCode.badArgs, 'lease revoke command needs 1 argument');
      const id = leaseIdFromArgument(args[0]!);
      const client = await session.client();
      let response: etcdserverpb.LeaseRevokeResponse;
      try {
        response = { header: await client.lease.revoke(id, session.callOptions) };
      } catch (error) {
        fail(ExitCode.error, error, (message) => `failed to revoke lease (${message})`);
      }
      session.display.revoke(id, response);
    }),
  });
}

function timeToLiveCommand(): Command {
  return new Command({
    use: 'timetolive <leaseID> [options]',
    short: 'Get lease information',
    flags: [{ name: 'keys', kind: 'bool', usage: 'Get keys attached to this lease' }],
    run: withSession(async (session) => {
      const { args, command } = session.invocation;
      if (args.length !== 1) exitWithError(ExitCode.badArgs, 'lease timetolive command needs lease ID as argument');
      const keys = command.flag('keys').bool;
      const client = await session.client();
      const id = leaseIdFromArgument(args[0]!);
      let result;
      try {
        result = await client.lease.timeToLive(id, { keys, timeoutMs: noDeadlineMs });
      } catch (error) {
        fail(ExitCode.badConnection, error);
      }
      session.display.timeToLive(
        {
          header: result.header,
          id: result.id,
          ttl: BigInt(result.ttlSeconds),
          grantedTtl: BigInt(result.grantedTtlSeconds),
          // An empty repeated field decodes as nil in Go: JSON null.
          keys: result.keys.length === 0 ? undefined : result.keys,
        },
        keys,
      );
    }),
  });
}

function listCommand(): Command {
  return new Command({
    use: 'list',
    short: 'List all active leases',
    run: withSession(async (session) => {
      const client = await session.client();
      let response: etcdserverpb.LeaseLeasesResponse;
      try {
        response = await client.call(etcdserverpb.LeaseService.leaseLeases, {}, { timeoutMs: noDeadlineMs });
      } catch (error) {
        fail(ExitCode.badConnection, error);
      }
      session.display.leases(response);
    }),
  });
}

/**
 * Keeps a lease alive as clientv3 does: a keepalive at once, the next TTL/3
 * (whole seconds) after each answer; stops when the server answers TTL 0
 * (revoked or expired) or nothing proves the lease alive for its TTL.
 * Each answer goes to `onResponse`.
 */
export async function keepAliveLoop(
  client: HfClient,
  id: bigint,
  onResponse: (response: etcdserverpb.LeaseKeepAliveResponse) => void,
  options: { once?: boolean; signal?: AbortSignal } = {},
): Promise<'expired' | 'answered' | 'aborted'> {
  let deadline = Date.now() + 5_000; // clientv3's defaultTTL until the first answer
  const aborted = (): boolean => options.signal?.aborted === true;
  for (;;) {
    if (aborted()) return 'aborted';
    let open;
    try {
      open = await client.pool.openBidi(etcdserverpb.LeaseService.leaseKeepAlive, options.signal);
    } catch (error) {
      if (aborted()) return 'aborted';
      if (options.once === true) throw error;
      if (Date.now() > deadline) return 'expired';
      await sleep(500);
      continue;
    }
    const stream = open.stream;
    const outcome = await new Promise<'expired' | 'answered' | 'aborted' | 'broken'>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let expiry: NodeJS.Timeout | undefined;
      const finish = (result: 'expired' | 'answered' | 'aborted' | 'broken'): void => {
        clearTimeout(timer);
        clearTimeout(expiry);
        options.signal?.removeEventListener('abort', onAbort);
        stream.removeAllListeners('data');
        stream.on('error', () => {});
        stream.cancel();
        resolve(result);
      };
      const onAbort = (): void => finish('aborted');
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const armExpiry = (): void => {
        clearTimeout(expiry);
        expiry = setTimeout(() => finish('expired'), Math.max(0, deadline - Date.now()));
      };
      armExpiry();
      stream.on('data', (response: etcdserverpb.LeaseKeepAliveResponse) => {
        if (response.TTL <= 0n) return finish('expired');
        onResponse(response);
        if (options.once === true) return finish('answered');
        deadline = Date.now() + Number(response.TTL) * 1000;
        armExpiry();
        clearTimeout(timer);
        timer = setTimeout(() => stream.write({ ID: id }), Math.max(500, Number(response.TTL / 3n) * 1000));
      });
      stream.on('error', () => finish('broken'));
      stream.on('end', () => finish('broken'));
      stream.write({ ID: id });
    });
    if (outcome !== 'broken') return outcome;
    if (options.once === true) exitWithError(ExitCode.badConnection, 'context canceled');
    if (Date.now() > deadline) return 'expired';
    await sleep(500);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function keepAliveCommand(): Command {
  return new Command({
    use: 'keep-alive [options] <leaseID>',
    short: 'Keeps leases alive (renew)',
    flags: [{ name: 'once', kind: 'bool', usage: 'Resets the keep-alive time to its original value and exits immediately' }],
    run: withSession(async (session) => {
      const { args, command } = session.invocation;
      if (args.length !== 1) exitWithError(ExitCode.badArgs, 'lease keep-alive command needs lease ID as argument');
      const id = leaseIdFromArgument(args[0]!);
      const client = await session.client();
      if (command.flag('once').bool) {
        let answered: etcdserverpb.LeaseKeepAliveResponse | undefined;
        let outcome;
        try {
          outcome = await keepAliveLoop(client, id, (response) => (answered = response), { once: true });
        } catch (error) {
          fail(ExitCode.badConnection, error);
        }
        if (outcome !== 'answered' || answered === undefined) exitWithError(ExitCode.badConnection, 'etcdserver: requested lease not found');
        session.display.keepAlive(answered);
        return;
      }
      await keepAliveLoop(client, id, (response) => session.display.keepAlive(response));
      if (session.display instanceof SimplePrinter) outLine(`lease ${hex16(id)} expired or revoked.`);
    }),
  });
}

export function leaseCommand(): Command {
  return new Command({
    use: 'lease <subcommand>',
    short: 'Lease related commands',
    subcommands: [grantCommand(), revokeCommand(), timeToLiveCommand(), listCommand(), keepAliveCommand()],
  });
}
