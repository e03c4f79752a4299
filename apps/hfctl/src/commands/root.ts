/** The command tree: etcdctl's v3 verbs and the v2-style ones. */
import { Command } from '../cli/command.js';
import { out, outLine } from '../cli/io.js';
import { globalFlagSpecs } from '../session.js';
import { compactionCommand, delCommand, getCommand, putCommand } from './kv.js';
import { leaseCommand } from './lease.js';
import { alarmCommand, defragCommand, endpointCommand, snapshotCommand } from './maintenance.js';
import { memberCommand } from './member.js';
import { txnCommand } from './txn.js';
import { watchCommand } from './watch.js';
import { checkCommand } from './check.js';
import { v2Commands } from './v2.js';
import { electCommand, lockCommand } from './lock-elect.js';

export const hfctlVersion = '0.1.0';
export const apiVersion = '3.4';

function versionCommand(): Command {
  return new Command({
    use: 'version',
    short: 'Prints the version of hfctl',
    run: async () => {
      outLine(`hfctl version: ${hfctlVersion}`);
      outLine(`API version: ${apiVersion}`);
    },
  });
}

/** cobra's help command: `hfctl help lease grant` prints that command's help. */
function helpCommand(root: () => Command): Command {
  return new Command({
    use: 'help [command]',
    short: 'Help about any command',
    run: async ({ args }) => {
      let command: Command;
      try {
        command = root().find(args).command;
      } catch {
        outLine(`Unknown help topic ${JSON.stringify(args)}`);
        command = root();
      }
      out(command.usage());
    },
  });
}

export function buildRoot(): Command {
  const root = new Command({
    use: 'hfctl',
    short: 'A simple command line client for etcd3.',
    persistentFlags: [...globalFlagSpecs],
    subcommands: [
      getCommand(),
      putCommand(),
      delCommand(),
      txnCommand(),
      compactionCommand(),
      alarmCommand(),
      defragCommand(),
      endpointCommand(),
      watchCommand(),
      versionCommand(),
      leaseCommand(),
      memberCommand(),
      snapshotCommand(),
      checkCommand(),
      lockCommand(),
      electCommand(),
      ...v2Commands(),
    ],
  });
  root.addCommand(helpCommand(() => root));
  root.programInfo = { version: hfctlVersion, apiVersion };
  return root;
}
