/** member list | add | remove | update | promote (etcdctl/ctlv3/command/member_command.go). */
import type { Member, MembersResult } from '@holdfast/client';
import type { etcdserverpb } from '@holdfast/proto';
import { Command } from '../cli/command.js';
import { ExitCode, exitWithError } from '../cli/exit.js';
import { outLine } from '../cli/io.js';
import { goQuote } from '../format/go.js';
import { SimplePrinter } from '../format/printer.js';
import { fail, withSession } from './common.js';
import { parseHexId } from './kv.js';

export function wireMember(member: Member): etcdserverpb.Member {
  return { ID: member.id, name: member.name, peerURLs: member.peerUrls, clientURLs: member.clientUrls, isLearner: member.isLearner };
}

function wireMembers(result: MembersResult): { header: etcdserverpb.ResponseHeader; members: etcdserverpb.Member[] } {
  return { header: result.header, members: result.members.map(wireMember) };
}

function memberId(text: string): bigint {
  return parseHexId(text, (error) => `bad member ID arg (${error}), expecting ID in Hex`, true);
}

const peerUrlsFlag = (usage: string) => ({ name: 'peer-urls', kind: 'string', usage }) as const;

function addCommand(): Command {
  return new Command({
    use: 'add <memberName> [options]',
    short: 'Adds a member into the cluster',
    flags: [peerUrlsFlag('comma separated peer URLs for the new member.'), { name: 'learner', kind: 'bool', usage: 'indicates if the new member is raft learner' }],
    run: withSession(async (session) => {
      const { args, command } = session.invocation;
      if (args.length < 1) exitWithError(ExitCode.badArgs, 'member name not provided');
      if (args.length > 1) {
        let message = 'too many arguments';
        for (const arg of args) if (arg.toLowerCase().startsWith('http')) message += `, did you mean --peer-urls=${arg}`;
        exitWithError(ExitCode.badArgs, message);
      }
      const name = args[0]!;
      const peerUrls = command.flag('peer-urls').string;
      if (peerUrls.length === 0) exitWithError(ExitCode.badArgs, 'member peer urls not provided');
      const urls = peerUrls.split(',');
      const client = await session.client();
      let result;
      try {
        result = await client.cluster.memberAdd(urls, { learner: command.flag('learner').bool, ...session.callOptions });
      } catch (error) {
        fail(ExitCode.error, error);
      }
      const response: etcdserverpb.MemberAddResponse = {
        ...wireMembers(result),
        member: result.member === undefined ? undefined : wireMember(result.member),
      };
      session.display.memberAdd(response);
      if (session.display instanceof SimplePrinter) {
        const newId = response.member?.ID;
        const conf: string[] = [];
        for (const member of response.members) {
          for (const url of member.peerURLs) conf.push(`${member.ID === newId ? name : member.name}=${url}`);
        }
        outLine('');
        outLine(`ETCD_NAME=${goQuote(name)}`);
        outLine(`ETCD_INITIAL_CLUSTER=${goQuote(conf.join(','))}`);
        outLine(`ETCD_INITIAL_ADVERTISE_PEER_URLS=${goQuote(peerUrls)}`);
        outLine('ETCD_INITIAL_CLUSTER_STATE="existing"');
      }
    }),
  });
}

function removeCommand(): Command {
  return new Command({
    use: 'remove <memberID>',
    short: 'Removes a member from the cluster',
    run: withSession(async (session) => {
      const { args } = session.invocation;
      if (args.length !== 1) exitWithError(ExitCode.badArgs, 'member ID is not provided');
      const id = memberId(args[0]!);
      const client = await session.client();
      let result;
      try {
        result = await client.cluster.memberRemove(id, session.callOptions);
      } catch (error) {
        fail(ExitCode.error, error);
      }
      session.display.memberRemove(id, wireMembers(result));
    }),
  });
}

function updateCommand(): Command {
  return new Command({
    use: 'update <memberID> [options]',
    short: 'Updates a member in the cluster',
    flags: [peerUrlsFlag('comma separated peer URLs for the updated member.')],
    run: withSession(async (session) => {
      const { args, command } = session.invocation;
      if (args.length !== 1) exitWithError(ExitCode.badArgs, 'member ID is not provided');
      const id = memberId(args[0]!);
      const peerUrls = command.flag('peer-urls').string;
      if (peerUrls.length === 0) exitWithError(ExitCode.badArgs, 'member peer urls not provided');
      const client = await session.client();
      let result;
      try {
        result = await client.cluster.memberUpdate(id, peerUrls.split(','), session.callOptions);
      } catch (error) {
        fail(ExitCode.error, error);
      }
      session.display.memberUpdate(id, wireMembers(result));
    }),
  });
}

function listCommand(): Command {
  return new Command({
    use: 'list',
    short: 'Lists all members in the cluster',
    long: `When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
`,
    run: withSession(async (session) => {
      const client = await session.client();
      let result;
      try {
        result = await client.cluster.memberList(session.callOptions);
      } catch (error) {
        fail(ExitCode.error, error);
      }
      session.display.memberList(wireMembers(result));
    }),
  });
}

function promoteCommand(): Command {
  return new Command({
    use: 'promote <memberID>',
    short: 'Promotes a non-voting member in the cluster',
    long: `Promotes a non-voting learner member to a voting one in the cluster.
`,
    run: withSession(async (session) => {
      const { args } = session.invocation;
      if (args.length !== 1) exitWithError(ExitCode.badArgs, 'member ID is not provided');
      const id = memberId(args[0]!);
      const client = await session.client();
      let result;
      try {
        result = await client.cluster.memberPromote(id, session.callOptions);
      } catch (error) {
        fail(ExitCode.error, error);
      }
      session.display.memberPromote(id, wireMembers(result));
    }),
  });
}

export function memberCommand(): Command {
  return new Command({
    use: 'member <subcommand>',
    short: 'Membership related commands',
    subcommands: [addCommand(), removeCommand(), updateCommand(), listCommand(), promoteCommand()],
  });
}
