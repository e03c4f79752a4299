/** Every attack of the suite, in the order the runner plays them. */
import type { Attack } from '../attack.js';
import { semanticsAttack, semanticsComparableFigures } from './semantics.js';
import { leasesAttack } from './leases.js';
import { diskFullAttack } from './disk-full.js';
import { attack as grpcFramingAttack } from './grpc-framing.js';
import { attack as defragAttack } from './defrag.js';

export const attacks: readonly Attack[] = [semanticsAttack, grpcFramingAttack, leasesAttack, defragAttack, diskFullAttack];

/**
 * Per attack, the figures that must be identical on Holdfast and on etcd
 * 3.4 (answers to deterministic requests: codes and messages).
 */
export const comparableFigures: Readonly<Record<string, readonly string[]>> = {
  [semanticsAttack.name]: semanticsComparableFigures,
};
