/**
 * Child process of verifyBackendReadable(): checks the freelist that writes
 * will use (freelist-check.ts), then opens the backend read-only and reads
 * every record of every table. Exit 0 = usable.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { backendFileName, backendTableNames } from './backend.js';
import { findFreelistDamage } from './freelist-check.js';

const directory = process.argv[2];
if (directory === undefined) {
  process.stderr.write('usage: verify-worker <backend directory>\n');
  process.exit(2);
}
try {
  const damage = findFreelistDamage(join(directory, backendFileName));
  if (damage !== undefined) throw new Error(`its freelist is damaged (${damage}): lmdb would abort on the first write`);
  const root = open({ path: directory, noSubdir: false, readOnly: true, compression: false, maxDbs: backendTableNames.length + 4 });
  let records = 0;
  for (const name of backendTableNames) {
    const db = root.openDB<Buffer, Buffer>(name, { keyEncoding: 'binary', encoding: 'binary' });
    // Walking the keys touches every branch and leaf page; values small
    // enough to live in leaf pages come with them. Larger values sit on
    // overflow pages: read those too, with a reused buffer (no copies).
    for (const key of db.getKeys({})) {
      records++;
      const size = db.getBinaryFast(key)?.length ?? 0;
      if (size < 0) throw new Error('unreachable');
    }
  }
  await root.close();
  process.stdout.write(`${records}\n`);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
