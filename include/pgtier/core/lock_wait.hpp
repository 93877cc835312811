#pragma once
#include <optional>
#include <string>
#include <vector>

// Why a dump or a restore makes no progress, as the server tells it: the words of the log line
// that replaces "0.0 MiB so far" while a session waits for a lock.
namespace pgtier {

// A session that holds (or waits ahead for) the lock another session waits for.
struct LockHolder {
    std::string pid;
    std::string user;
    std::string application;
    std::string state;  // pg_stat_activity.state: "idle in transaction", "active", …
    std::string query;  // its current or last statement
    std::optional<double> transaction_seconds;
};

// What pg_stat_activity and pg_locks say of the waiting session.
struct LockWait {
    std::string wait_event_type;  // "Lock", "LWLock", "IO", … (empty: not waiting)
    std::string wait_event;       // "relation", "transactionid", …
    std::string relation;         // the relation waited for, when the server names one
    std::vector<LockHolder> holders;
};

// "waiting for a lock on public.t (held by pid 123: user alice, application psql,
// idle in transaction, transaction open for 12 s, statement \"LOCK TABLE t\")"; nullopt when the
// session is not waiting for a lock (a heavyweight one: other waits are short and say nothing
// useful).
std::optional<std::string> describe_lock_wait(const LockWait& wait);

}  // namespace pgtier
