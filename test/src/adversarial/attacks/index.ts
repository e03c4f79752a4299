/** Every attack of the suite, in the order the runner plays them. */
import type { Attack } from '../attack.js';
import { semanticsAttack, semanticsComparableFigures } from './semantics.js';
import { leasesAttack } from './leases.js';
import { diskFullAttack } from './disk-full.js';
import { attack as grpcFramingAttack } from './grpc-framing.js';
import { attack as defragAttack } from './defrag.js';
import { attacks as http2Attacks } from './http2.js';
import { attacks as http1Attacks } from './http1.js';
import { attack as largeRangeAttack } from './large-range.js';
import { attack as watchCatchupAttack } from './watch-catchup.js';

export const attacks: readonly Attack[] = [...http2Attacks, ...http1Attacks, grpcFramingAttack, semanticsAttack, leasesAttack, largeRangeAttack, watchCatchupAttack, defragAttack, diskFullAttack];

/**
 * Per attack, the figures that must be identical on Holdfast and on etcd
 * 3.4 (answers to deterministic requests: codes and messages).
 */
export const comparableFigures: Readonly<Record<string, readonly string[]>> = {
  [semanticsAttack.name]: semanticsComparableFigures,
};
