#include "catch_compat.hpp"

#include "pgtier/core/lock_wait.hpp"

using namespace pgtier;

TEST_CASE("a session that waits for no lock has nothing to say", "[lock_wait]") {
    CHECK_FALSE(describe_lock_wait(LockWait{}));
    CHECK_FALSE(describe_lock_wait(LockWait{"IO", "DataFileRead", "", {}}));
    CHECK_FALSE(describe_lock_wait(LockWait{"LWLock", "WALWrite", "", {}}));
}

TEST_CASE("a lock wait names the relation and every holder", "[lock_wait]") {
    LockWait wait{"Lock", "relation", "public.orders", {}};
    wait.holders.push_back({"4242", "alice", "psql", "idle in transaction",
                            "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", 12.4});
    CHECK(describe_lock_wait(wait) ==
          "waiting for a lock on public.orders (held by pid 4242: user alice, application psql, "
          "idle in transaction, transaction open for 12 s, statement \"LOCK TABLE orders IN ACCESS "
          "EXCLUSIVE MODE\")");
    wait.holders.push_back({"4243", "bob", "", "active", "", std::nullopt});
    CHECK(describe_lock_wait(wait)->ends_with("; pid 4243: user bob, active)"));
}

TEST_CASE("a lock wait without a relation says what kind of lock", "[lock_wait]") {
    const LockWait wait{"Lock", "transactionid", "", {}};
    CHECK(describe_lock_wait(wait) == "waiting for a lock (transactionid)");
}

TEST_CASE("a holder's statement is cut short and kept on one line", "[lock_wait]") {
    LockWait wait{"Lock", "relation", "t", {}};
    wait.holders.push_back({"7", "u", "", "", "SELECT\n" + std::string(300, 'x'), std::nullopt});
    const auto text = *describe_lock_wait(wait);
    CHECK(text.find('\n') == std::string::npos);
    CHECK(text.find("statement \"SELECT xxx") != std::string::npos);
    CHECK(text.ends_with("xxx...\")"));
    CHECK(text.size() < 200);
}
