#pragma once

namespace pgtier {

// How many databases a backup dumps, or a restore replays, at once when the operator does not
// say: a quarter of the cores (each job is a pg_dump or psql child plus the server's backend
// and its share of compression), at least 2 so that small databases overlap their start-up,
// at most 8 so that a big host does not open more connections than an operator expects.
// `cores` is what the machine reports; 0 (unknown) counts as 1.
int default_jobs(unsigned cores);

// The dumps a backup runs at once: `configured` ([backup] jobs or backup --jobs), where 0 is
// default_jobs(cores).
int backup_jobs(int configured, unsigned cores);

}  // namespace pgtier
