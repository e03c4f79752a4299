// Test helper: run protoc as an independent encoder (text format -> binary).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** protoc binary used as the reference encoder (override with $PROTOC). */
export const PROTOC = process.env['PROTOC'] ?? '/usr/bin/protoc';
export const HAVE_PROTOC = existsSync(PROTOC);
export const SKIP_REASON = `protoc not found at ${PROTOC}; byte comparison needs it`;

/** packages/proto/proto, found from the compiled test in dist/test/. */
export const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));

/**
 * Encode a text-format message with `protoc --encode=<type>`; `file` is the
 * .proto path relative to PROTO_DIR that defines (or imports) the type.
 */
export function protocEncode(type: string, file: string, text: string): Buffer {
  const r = spawnSync(PROTOC, [`--encode=${type}`, '-I', PROTO_DIR, file], {
    input: Buffer.from(text, "utf8"),
    encoding: 'buffer',
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`protoc --encode=${type} failed (${r.status}): ${r.stderr.toString()}`);
  }
  return r.stdout;
}
