/**
 * The config-file YAML reader: the subset etcd's files use is read as go-yaml
 * v2 reads it; everything else is refused with its line, and random input
 * either parses or fails with YamlSubsetError, never anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigYaml, YamlSubsetError, type YamlEntry, type YamlNode } from '../src/config-yaml.js';

/** Entries as plain data, to compare with expectations. */
function plainValue(node: YamlNode): unknown {
  switch (node.kind) {
    case 'null':
      return null;
    case 'list':
      return node.items.map(plainValue);
    case 'map':
      return Object.fromEntries(node.entries.map((entry) => [entry.key, plainValue(entry.value)]));
    case 'int':
      return `int:${node.value}`;
    case 'float':
      return `float:${node.value}`;
    default:
      return node.value;
  }
}
const read = (text: string): Record<string, unknown> => Object.fromEntries(parseConfigYaml(text).map((entry: YamlEntry) => [entry.key, plainValue(entry.value)]));

function refused(text: string, line: number, detail: RegExp): void {
  assert.throws(
    () => parseConfigYaml(text),
    (error: unknown) => error instanceof YamlSubsetError && error.line === line && detail.test(error.message),
    `expected a refusal on line ${line} matching ${detail} for ${JSON.stringify(text)}`,
  );
}

test('etcd.conf.yml.sample shapes: scalars, quotes, comments, lists, one nested map', () => {
  const text = [
    '# This is the configuration file for the etcd server.',
    '---',
    "name: 'default'",
    'data-dir:',
    'snapshot-count: 10000   # comment',
    'quota-backend-bytes: -5',
    'listen-client-urls: http://localhost:2379,http://10.0.0.1:2379',
    'initial-cluster-token: "etcd-cluster"',
    'enable-v2: true',
    'strict-reconfig-check: off',
    'discovery-fallback: \'it\'\'s\'',
    'escaped: "a\\tb\\u00e9\\"#c" # trailing',
    'hash-inside: a#b',
    'ratio: 1.5',
    'tilde: ~',
    'client-transport-security:',
    '  # Path to the client server TLS cert file.',
    '  cert-file:',
    '  client-cert-auth: false',
    '',
    'log-outputs: [stderr, "stdout" ,\'/var/log/x\']',
    'empty-list: []',
    'block:',
    '  - a',
    '  - "b" # comment',
    'same-indent-block:',
    '- c',
    'auto-compaction-retention: "1"',
  ].join('\n');
  assert.deepEqual(read(text), {
    name: 'default',
    'data-dir': null,
    'snapshot-count': 'int:10000',
    'quota-backend-bytes': 'int:-5',
    'listen-client-urls': 'http://localhost:2379,http://10.0.0.1:2379',
    'initial-cluster-token': 'etcd-cluster',
    'enable-v2': true,
    'strict-reconfig-check': false,
    'discovery-fallback': "it's",
    escaped: 'a\tb\u00e9"#c',
    'hash-inside': 'a#b',
    ratio: 'float:1.5',
    tilde: null,
    'client-transport-security': { 'cert-file': null, 'client-cert-auth': false },
    'log-outputs': ['stderr', 'stdout', '/var/log/x'],
    'empty-list': [],
    block: ['a', 'b'],
    'same-indent-block': ['c'],
    'auto-compaction-retention': '1',
  });
});

test('plain scalars are typed as go-yaml v2 types them', () => {
  for (const word of ['y', 'Yes', 'TRUE', 'on', 'On']) assert.equal(read(`k: ${word}`).k, true, word);
  for (const word of ['n', 'No', 'False', 'OFF']) assert.equal(read(`k: ${word}`).k, false, word);
  for (const word of ['null', 'Null', 'NULL', '~', '']) assert.equal(read(`k: ${word}`).k, null, word);
  assert.equal(read('k: +7').k, 'int:7');
  assert.equal(read('k: 1e3').k, 'float:1000');
  assert.equal(read('k: .inf').k, 'float:Infinity');
  assert.equal(read('k: 10m').k, '10m');
  assert.equal(read('k: "yes"').k, 'yes');
  assert.equal(read('k: 18446744073709551616').k, 'int:18446744073709551616');
});

test('what is outside the subset is refused with its line', () => {
  refused('a: 1\nb: [x\n', 2, /did not find expected ',' or '\]'/);
  refused('a: 1\n  b: 2\n', 2, /mapping values are not allowed in this context/);
  refused('a: 1\n\tb: 2\n', 2, /found a tab character that violates indentation/);
  refused('a: b: c\n', 1, /mapping values are not allowed/);
  refused('a: 1\na: 2\n', 2, /key "a" is already set on line 1/);
  refused('- a\n- b\n', 1, /must be a mapping/);
  refused('just text\n', 1, /could not find expected ':'/);
  refused('a: &anchor x\n', 1, /anchors/);
  refused('a: *alias\n', 1, /aliases/);
  refused('a: !!str 5\n', 1, /tags/);
  refused('a: |\n  text\n', 1, /block scalars/);
  refused('a: >\n  text\n', 1, /block scalars/);
  refused('a: {b: 1}\n', 1, /flow mappings/);
  refused('a: [[1]]\n', 1, /nested flow/);
  refused('a: "open\n', 1, /quoted values must close on the same line/);
  refused("a: 'x' y\n", 1, /unexpected "y"/);
  refused('a: "\\q"\n', 1, /unknown escape character/);
  refused('a: 010\n', 1, /not a plain decimal/);
  refused('a: 0x1F\n', 1, /not a plain decimal/);
  refused('a: 1_000\n', 1, /not a plain decimal/);
  refused('a:\n  b:\n    c: 1\n', 3, /more than one level deep/);
  refused('a:\n  - b: 1\n', 2, /maps inside a list/);
  refused('a: plain\n  continued\n', 2, /continued on the next line/);
  refused('a: 1\n---\nb: 2\n', 2, /more than one document/);
  refused('"a": 1\n', 1, /quoted keys/);
  refused('a: - b\n', 1, /block sequence entries/);
  refused('a:\n  b: 1\n c: 2\n', 3, /inconsistent indentation/);
  refused('a: x\u0001\n', 1, /control characters/);
});

/** A small deterministic generator (mulberry32), so a failing seed can be replayed. */
function randomSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fragments that YAML gives meaning to, so random documents reach every branch. */
const fragments = ['a', 'key', ':', ': ', ' ', '  ', '\t', '\n', '\r\n', '-', '- ', '#', ' #', '"', "'", '\\', '[', ']', ',', '{', '}', '&', '*', '!', '|', '>', '%', '---', '...', '0x', '010', '1', '-1', '1.5', 'yes', 'null', '~', '\\u00', '\u00e9', '\ufeff', '\u0000', 'http://x:1'];
const fuzzCases = 5_000;
const maxFragmentsPerCase = 40;

test(`random documents (${fuzzCases}) either parse or are refused with YamlSubsetError on a real line`, () => {
  const random = randomSource(20_240_601);
  let parsed = 0;
  for (let index = 0; index < fuzzCases; index += 1) {
    const count = Math.floor(random() * maxFragmentsPerCase);
    let text = '';
    for (let fragment = 0; fragment < count; fragment += 1) text += fragments[Math.floor(random() * fragments.length)]!;
    const lineCount = text.split(/\r\n|\n|\r/).length;
    try {
      const entries = parseConfigYaml(text);
      parsed += 1;
      for (const entry of entries) assert.ok(entry.line >= 1 && entry.line <= lineCount, `entry line in range for ${JSON.stringify(text)}`);
    } catch (error) {
      if (!(error instanceof YamlSubsetError)) assert.fail(`input ${JSON.stringify(text)} threw ${String(error)}`);
      assert.ok(error.line >= 1 && error.line <= lineCount, `error line ${error.line} in range for ${JSON.stringify(text)}`);
    }
  }
  // Both outcomes must occur, or the generator is not exercising the reader.
  assert.ok(parsed > fuzzCases / 20 && parsed < fuzzCases, `parsed ${parsed} of ${fuzzCases}`);
});

test('random well-formed documents read back exactly what was written', () => {
  const random = randomSource(7);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const words = ['alpha', 'http://127.0.0.1:2379', 'it\'s', 'a "q"', 'x#y', 'tab\there', 'snowman \u2603'];
  for (let index = 0; index < 1_000; index += 1) {
    const expected: Record<string, unknown> = {};
    const lines: string[] = [];
    const keyCount = 1 + Math.floor(random() * 6);
    for (let keyIndex = 0; keyIndex < keyCount; keyIndex += 1) {
      const key = `key-${keyIndex}`;
      const shape = pick(['int', 'single', 'double', 'flow', 'block', 'map'] as const);
      const word = pick(words);
      if (shape === 'int') {
        const value = BigInt(Math.floor(random() * 2 ** 40)) * (random() < 0.5 ? -1n : 1n);
        lines.push(`${key}: ${value}`);
        expected[key] = `int:${value}`;
      } else if (shape === 'single') {
        lines.push(`${key}: '${word.replaceAll("'", "''")}'  # note`);
        expected[key] = word;
      } else if (shape === 'double') {
        lines.push(`${key}: ${JSON.stringify(word)}`);
        expected[key] = word;
      } else if (shape === 'flow') {
        lines.push(`${key}: [${JSON.stringify(word)}, 'b']`);
        expected[key] = [word, 'b'];
      } else if (shape === 'block') {
        lines.push(`${key}:`, `  - ${JSON.stringify(word)}`, '  - plain');
        expected[key] = [word, 'plain'];
      } else {
        lines.push(`${key}:`, `   inner: ${JSON.stringify(word)}`, '   flag: true');
        expected[key] = { inner: word, flag: true };
      }
      if (random() < 0.3) lines.push('# a comment line', '');
    }
    assert.deepEqual(read(lines.join(random() < 0.5 ? '\n' : '\r\n')), expected, lines.join('\n'));
  }
});
