import type { NodeId } from './messages.js';

/** Smallest number of voters that forms a majority. */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index replicated on a majority of `voters`, given each voter's
 * match index. An empty voter set commits nothing.
 */
export function majorityCommittedIndex(voters: ReadonlySet<NodeId>, matchOf: (id: NodeId) => number): number {
  if (voters.size === 0) return 0;
  const matches: number[] = [];
  for (const id of voters) matches.push(matchOf(id));
  // Log indexes (numbers), not node ids: subtraction is a valid comparator here.
  matches.sort((a, b) => b - a);
  // The majority(n)-th largest match is held by at least a majority.
  return matches[majority(voters.size) - 1]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Outcome of an election (or any quorum poll) among `voters`. Non-voters' answers are ignored. */
export function voteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'lost'; // No voters: nobody can win.
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const needed = majority(voters.size);
  if (granted >= needed) return 'won';
  if (rejected > voters.size - needed) return 'lost';
  return 'pending';
}
