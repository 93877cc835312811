#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pgtier/archive/section_reader.hpp"
#include "pgtier/core/manifest.hpp"
#include "pgtier/pg/database.hpp"
#include "pgtier/pg/pg_client.hpp"
#include "pgtier/sys/config.hpp"

namespace pgtier {

// One section of one archive.
struct SectionRef {
    std::shared_ptr<const ArchiveSource> archive;
    SectionEntry section;
};

struct RestoredDatabase {
    std::string name;
    std::uint64_t bytes = 0;  // SQL text replayed
    std::uint64_t size_on_server = 0;
    double seconds = 0;
    std::vector<std::string> created_roles;
};

// Replays archive sections into the server through psql (ON_ERROR_STOP=1). A database is
// always loaded under a private work name and renamed to its target only when complete, so a
// failure leaves the target as it was and drops the partial copy.
// restore_database may run in several threads at once (a parallel whole-cluster restore): each
// call has its own connection, psql, work name and application_name.
class Restorer {
  public:
    // `decode_pool` (when given; it must outlive the Restorer, and may be shared) decodes the
    // sections replayed in parallel (compression.threads).
    Restorer(const ConnectionSettings& settings, const std::atomic<bool>& stop,
             WorkerPool* decode_pool = nullptr);

    std::vector<std::string> databases();
    // SHOW server_version of the target ("17.12 (Debian 17.12-1)").
    std::string server_version();
    // Whether the cluster is empty (no database besides postgres/template0/template1, and no
    // user table in postgres), and why it is or is not.
    struct EmptyCheck {
        bool empty = false;
        std::string why;
    };
    EmptyCheck cluster_is_empty();
    bool has_user_tables(const std::string& database);

    // The text of a (small) globals section.
    static std::string read_text(const SectionRef& ref);

    // The text of a globals section, every CREATE ROLE made idempotent so existing roles are
    // updated instead of failing, checked whole: throws Error naming the line when it holds a
    // psql meta-command. Read before anything changes. The password of `connected_role` (the
    // role this restore connects as) is left out: the restore keeps the current one.
    static std::string checked_globals(const SectionRef& ref, const std::string& connected_role);
    // The role pgtier is connected as (current_user).
    std::string connected_role();
    // Replays that text. Like every replay, psql runs restricted (RestoreFilter): no archive
    // text runs as a meta-command.
    void restore_globals(const SectionRef& ref, const std::string& checked);

    // Throws Error unless psql has restricted mode (\restrict): pgtier feeds archive text to no
    // other psql.
    void require_restricting_psql();

    // What restore_database checks before it changes anything: `target` is a name a database
    // can have, and the section's own header (CREATE DATABASE / \connect) names the database
    // its manifest label says (a relabelled section is refused). Throws Error.
    static void check_restorable(const SectionRef& ref, const std::string& target);

    // Drops the work databases of restores whose process is gone (killed), logging each; the
    // work database of a live process (a concurrent restore), and any database that has a work
    // database's name but not pgtier's mark (queries::has_work_database_mark), are kept.
    void drop_stale_work_databases();

    // Restores a database section as `target`. Refuses an existing target unless `replace`;
    // an empty postgres or template1 is loaded in place (the sections of postgres and
    // template1 only), every other target through a work database.
    // Roles the section needs that the server lacks are created first, from `role_definitions`
    // (name -> statements) when known.
    RestoredDatabase restore_database(const SectionRef& ref, const std::string& target,
                                      bool replace,
                                      const std::map<std::string, std::string>& role_definitions);

  private:
    // Streams the text `produce` passes to its sink through `filter` into psql
    // connected to `connect_to`. Returns the bytes read; throws Error with psql's message.
    std::uint64_t replay(const std::string& what, std::uint64_t total,
                         const std::string& connect_to, const std::string& application_name,
                         const std::function<void(const TextSink&)>& produce,
                         class RestoreFilter& filter);
    std::string maintenance_database(const std::string& avoid) const;
    // The application_name of one psql of this process (restore_application_name), unique.
    std::string psql_application_name();
    // Renames the complete work database to the target; an existing target is moved aside
    // first and dropped last (its database-level settings carried over when asked).
    void put_in_place(Connection& conn, const std::string& source, const std::string& work,
                      const std::string& target, bool target_exists, bool carry_attributes);

    ClientEnvironment client_;
    const std::atomic<bool>& stop_;
    WorkerPool* decode_pool_;
    // Numbers work, replaced-aside and application names; shared by concurrent restores.
    std::atomic<int> work_counter_{0};
};

}  // namespace pgtier
