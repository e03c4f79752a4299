/**
 * txn (etcdctl/ctlv3/command/txn_command.go): compares, success operations
 * and failure operations read from stdin, each section ended by an empty
 * line; -i prompts for each section. The grammar is etcdctl 3.4's:
 *
 *   value("key") = "v"      version("key") > "2"      create("key") = "0"
 *   mod("key") < "10"       lease("key") = "694d7f5fd3b2a40b"
 *   put key value [--lease id] [--prev-kv] ...   get key [range_end] [--prefix] ...   del key [...]
 *
 * Two deliberate differences from etcdctl 3.4, which crashes on these:
 * lease("key") compares a hex lease id (as etcdctl 3.5 does), and an
 * unknown operator is reported as malformed input instead of a Go panic.
 * 'Single-quoted' words keep their whole text (etcdctl 3.4 truncates them).
 */
import { Compare, type CompareOperator, type Operation } from '@holdfast/client';
import { Command, UnknownCommandError } from '../cli/command.js';
import { CliExit, ExitCode, exitWithError } from '../cli/exit.js';
import { Flag, FlagError, HelpRequested, type FlagSpec } from '../cli/flags.js';
import { argify, scanCompareOperands, UnquoteError } from '../cli/go-scan.js';
import { err, outLine } from '../cli/io.js';
import { LineReader } from '../cli/stdin.js';
import { parseGoInt, ValueError } from '../cli/values.js';
import { goQuote } from '../format/go.js';
import { fail, noDeadlineMs, txnResponse, withSession } from './common.js';
import {
  deleteOperation,
  delFlagSpecs,
  delShort,
  delUse,
  flagValues,
  getFlagSpecs,
  getOperation,
  getShort,
  getUse,
  putFlagSpecs,
  putOperation,
  putShort,
  putUse,
} from './kv.js';

const operators: Record<string, CompareOperator> = { '=': '=', '!=': '!=', '>': '>', '<': '<' };

/** etcdctl's parseCompare. Throws CliExit(invalid input) with etcdctl's messages. */
export function parseCompare(line: string): Compare {
  const invalid = (message: string): never => {
    throw new CliExit(ExitCode.invalidInput, message);
  };
  const paren = line.indexOf('(');
  if (paren < 0) invalid(`malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  const { count, key, op, value } = scanCompareOperands(line.slice(paren + 1));
  if (count !== 3) invalid(`malformed comparison: ${line}; got ${target}(${goQuote(key)}) ${op} ${goQuote(value)}`);
  const operator = operators[op];
  const number = (): bigint => {
    try {
      return parseGoInt(value.toString('utf8'), 10);
    } catch (error) {
      if (error instanceof ValueError) invalid(`invalid txn compare request: ${line}`);
      throw error;
    }
  };
  const checkedOperator = (): CompareOperator => operator ?? invalid(`malformed comparison: ${line} (unknown operator ${op})`);
  switch (target) {
    case 'ver':
    case 'version': {
      const version = number();
      return Compare.version(key, checkedOperator(), version);
    }
    case 'c':
    case 'create': {
      const revision = number();
      return Compare.createRevision(key, checkedOperator(), revision);
    }
    case 'm':
    case 'mod': {
      const revision = number();
      return Compare.modRevision(key, checkedOperator(), revision);
    }
    case 'val':
    case 'value':
      return Compare.value(key, checkedOperator(), value);
    case 'lease': {
      let lease: bigint;
      try {
        lease = parseGoInt(value.toString('utf8'), 16);
      } catch {
        return invalid(`invalid txn compare request: ${line}`);
      }
      return Compare.lease(key, checkedOperator(), lease);
    }
    default:
      return invalid(`malformed comparison: ${line} (unknown target ${target})`);
  }
}

/** pflag's FlagUsages, as cobra's default usage template shows it (for put/get/del inside txn). */
function defaultFlagUsages(flags: Flag[]): string {
  const lines: string[] = [];
  let maxLength = 0;
  for (const flag of flags) {
    let line = flag.spec.shorthand !== undefined ? `  -${flag.spec.shorthand}, --${flag.name}` : `      --${flag.name}`;
    const typeName = flag.spec.kind === 'bool' ? '' : flag.spec.kind === 'int64' ? 'int' : flag.spec.kind === 'stringSlice' ? 'strings' : flag.spec.kind;
    if (typeName !== '') line += ` ${typeName}`;
    line += '\x00';
    maxLength = Math.max(maxLength, line.length);
    line += flag.spec.usage;
    const zero = flag.spec.kind === 'bool' ? flag.defValue === 'false' : flag.spec.kind === 'string' ? flag.defValue === '' : flag.defValue === '0' || flag.defValue === '0s' || flag.defValue === '[]';
    if (!zero) line += flag.spec.kind === 'string' ? ` (default ${goQuote(flag.defValue)})` : ` (default ${flag.defValue})`;
    lines.push(line);
  }
  return lines
    .map((line) => {
      const index = line.indexOf('\x00');
      return `${line.slice(0, index)} ${' '.repeat(maxLength - index)} ${line.slice(index + 1)}`;
    })
    .join('\n');
}

/** cobra's default usage of a subcommand of an unnamed root (what etcdctl prints for a bad flag inside txn). */
function defaultUsage(command: Command): string {
  return `Usage:\n  ${command.useLine}\n\nFlags:\n${defaultFlagUsages(command.localFlags().sorted()).replace(/\s+$/, '')}\n`;
}

/** etcdctl's parseRequestUnion: one operation line, parsed as a put, get or del command line. */
async function parseOperation(line: string): Promise<Operation> {
  const args = argify(line);
  if (args.length < 2) throw new CliExit(ExitCode.invalidInput, `invalid txn compare request: ${line}`);
  const root = new Command({ use: '', short: '' });
  const make = (use: string, short: string, specs: FlagSpec[]): Command => new Command({ use, short, flags: specs, run: async () => {} });
  root.addCommand(make(putUse, putShort, putFlagSpecs));
  root.addCommand(make(getUse, getShort, getFlagSpecs));
  root.addCommand(make(delUse, delShort, delFlagSpecs));
  const invalid = (): never => {
    throw new CliExit(ExitCode.invalidInput, `invalid txn request: ${line}`);
  };
  let found;
  try {
    found = root.find(args);
  } catch (error) {
    if (error instanceof UnknownCommandError) return invalid();
    throw error;
  }
  if (found.command === root) return invalid();
  let parsed;
  try {
    parsed = found.command.allFlags().parse(found.args);
  } catch (error) {
    if (error instanceof FlagError) {
      err(defaultUsage(found.command), '\n');
      return invalid();
    }
    if (error instanceof HelpRequested) return invalid();
    throw error;
  }
  const flags = flagValues(found.command);
  switch (found.command.name) {
    case 'put':
      // The value would come from stdin, which the txn itself is reading: there is none left.
      return putOperation(flags, parsed.args, async () => Buffer.alloc(0));
    case 'get':
      return getOperation(flags, parsed.args);
    default:
      return deleteOperation(flags, parsed.args);
  }
}

/** Reads lines up to an empty one; a missing newline at the end of input is an error ("EOF"), as with bufio. */
async function readSection<T>(reader: LineReader, parse: (line: string) => T | Promise<T>): Promise<T[]> {
  const items: T[] = [];
  for (;;) {
    const next = await reader.readLine();
    if (next.eof) exitWithError(ExitCode.invalidInput, 'EOF');
    const line = next.line.toString('utf8').trim();
    if (line.length === 0) return items;
    items.push(await parse(line));
  }
}

export function txnCommand(): Command {
  return new Command({
    use: 'txn [options]',
    short: 'Txn processes all the requests in one transaction',
    flags: [{ name: 'interactive', shorthand: 'i', kind: 'bool', usage: 'Input transaction in interactive mode' }],
    run: withSession(async (session) => {
      const { command, args } = session.invocation;
      if (args.length !== 0) exitWithError(ExitCode.badArgs, 'txn command does not accept argument');
      const interactive = command.flag('interactive').bool;
      const prompt = (text: string): void => {
        if (interactive) outLine(text);
      };
      const client = await session.client();
      const reader = new LineReader();
      try {
        prompt('compares:');
        const compares = await readSection(reader, parseCompare);
        prompt('success requests (get, put, del):');
        const success = await readSection(reader, parseOperation);
        prompt('failure requests (get, put, del):');
        const failure = await readSection(reader, parseOperation);
        let response;
        try {
          response = txnResponse(
            await client
              .txn()
              .if(...compares)
              .then(...success)
              .else(...failure)
              .commit({ timeoutMs: noDeadlineMs }),
          );
        } catch (error) {
          fail(ExitCode.error, error);
        }
        session.display.txn(response);
      } catch (error) {
        if (error instanceof UnquoteError) exitWithError(ExitCode.invalidInput, error.message);
        throw error;
      } finally {
        reader.close();
      }
    }),
  });
}


