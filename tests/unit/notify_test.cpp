#include "catch_compat.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/notify.hpp"
#include "pgtier/sys/config.hpp"
#include "pgtier/sys/notifier.hpp"

using namespace pgtier;

namespace {

std::string config_error(const std::string& toml, const Environment& env = {}) {
    try {
        parse_config(toml, "/etc/pgtier/test.toml", env);
    } catch (const ConfigError& err) {
        return err.what();
    }
    return "";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

Notification failed_full() {
    Notification n;
    n.event = NotifyEvent::backup_failed;
    n.tier = "full";
    n.duration_s = 1.25;
    n.error = "connection refused";
    n.host = "db1";
    n.cluster = "7312345678901234567";
    n.time = *parse_utc_iso("2026-12-05T07:15:02.5Z");
    return n;
}

}  // namespace

TEST_CASE("backup_event: failures always, recoveries after a failure, successes on request") {
    CHECK(backup_event(std::nullopt, false, false) == NotifyEvent::backup_failed);
    CHECK(backup_event(true, false, false) == NotifyEvent::backup_failed);  // every failed run
    CHECK(backup_event(false, false, true) == NotifyEvent::backup_failed);
    CHECK(backup_event(true, true, false) == NotifyEvent::recovered);
    CHECK(backup_event(true, true, true) == NotifyEvent::recovered);  // not also a success
    CHECK_FALSE(backup_event(false, true, false).has_value());
    CHECK_FALSE(backup_event(std::nullopt, true, false).has_value());
    CHECK(backup_event(false, true, true) == NotifyEvent::backup_succeeded);
    CHECK(backup_event(std::nullopt, true, true) == NotifyEvent::backup_succeeded);
}

TEST_CASE("offsite_event: raised once per problem, recovered once when it clears") {
    bool raised = false;
    CHECK_FALSE(offsite_event(raised, false).has_value());
    CHECK(offsite_event(raised, true) == NotifyEvent::offsite_failed);
    CHECK(raised);
    CHECK_FALSE(offsite_event(raised, true).has_value());  // still failing: said once
    CHECK_FALSE(offsite_event(raised, true).has_value());
    CHECK(offsite_event(raised, false) == NotifyEvent::recovered);
    CHECK_FALSE(raised);
    CHECK_FALSE(offsite_event(raised, false).has_value());
    CHECK(offsite_event(raised, true) == NotifyEvent::offsite_failed);  // a new problem
}

TEST_CASE("notification_body: schema 1 JSON with nulls for what is unset") {
    const auto body = nlohmann::json::parse(notification_body(failed_full(), NotifyFormat::json));
    CHECK(body["schema"] == 1);
    CHECK(body["event"] == "backup_failed");
    CHECK(body["scope"] == "backup");
    CHECK(body["tier"] == "full");
    CHECK(body["archive"].is_null());
    CHECK(body["size_bytes"].is_null());
    CHECK(body["duration_s"] == 1.25);
    CHECK(body["error"] == "connection refused");
    CHECK(body["host"] == "db1");
    CHECK(body["cluster"] == "7312345678901234567");
    CHECK(body["time"] == "2026-12-05T07:15:02Z");

    Notification ok = failed_full();
    ok.event = NotifyEvent::recovered;
    ok.error.reset();
    ok.archive = "full/20261205_071502_full.sql.bz2";
    ok.size_bytes = 12345;
    ok.cluster.reset();
    const auto good = nlohmann::json::parse(notification_body(ok, NotifyFormat::json));
    CHECK(good["event"] == "recovered");
    CHECK(good["archive"] == "full/20261205_071502_full.sql.bz2");
    CHECK(good["size_bytes"] == 12345);
    CHECK(good["error"].is_null());
    CHECK(good["cluster"].is_null());

    Notification bad = failed_full();
    bad.error = std::string("database \"caf\xe9\" failed");  // not UTF-8: replaced, not thrown
    const auto parsed = nlohmann::json::parse(notification_body(bad, NotifyFormat::json));
    CHECK(parsed["event"] == "backup_failed");
}

TEST_CASE("notification_body: slack is one text line") {
    const auto body = nlohmann::json::parse(notification_body(failed_full(), NotifyFormat::slack));
    REQUIRE(body.size() == 1);
    const std::string text = body["text"];
    CHECK(text ==
          "pgtier on db1 (cluster 7312345678901234567): the full backup failed in 1.2 s: "
          "connection refused [2026-12-05T07:15:02Z]");
    Notification offsite;
    offsite.event = NotifyEvent::offsite_failed;
    offsite.scope = "offsite";
    offsite.error = "the last sync failed";
    offsite.host = "db1";
    const std::string offsite_text =
        nlohmann::json::parse(notification_body(offsite, NotifyFormat::slack))["text"];
    CHECK(contains(offsite_text, "the offsite copies are failing: the last sync failed"));
}

TEST_CASE("url_host shows the host and port only") {
    CHECK(url_host("https://hooks.slack.com/services/T000/B000/XXXX") == "hooks.slack.com");
    CHECK(url_host("http://127.0.0.1:8080/hook?token=secret") == "127.0.0.1:8080");
    CHECK(url_host("https://user:pw@example.com/x") == "example.com");
    CHECK(url_host("https://[::1]:9000/x") == "[::1]:9000");
    CHECK(url_host("no scheme") == "?");
    CHECK(url_host("https:///path") == "?");
    CHECK(is_webhook_url("https://hooks.example.com/x"));
    CHECK(is_webhook_url("http://127.0.0.1:1"));
    CHECK_FALSE(is_webhook_url("ftp://example.com/x"));
    CHECK_FALSE(is_webhook_url("hooks.example.com/x"));
    CHECK_FALSE(is_webhook_url("https://example.com/a b"));
}

TEST_CASE("parse_listen_address") {
    const auto v4 = parse_listen_address("127.0.0.1:9187");
    REQUIRE(v4);
    CHECK(v4->host == "127.0.0.1");
    CHECK(v4->port == 9187);
    const auto v6 = parse_listen_address("[::1]:9187");
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK(parse_listen_address("0.0.0.0:1")->port == 1);
    CHECK_FALSE(parse_listen_address("9187"));
    CHECK_FALSE(parse_listen_address(":9187"));
    CHECK_FALSE(parse_listen_address("127.0.0.1:"));
    CHECK_FALSE(parse_listen_address("127.0.0.1:0"));
    CHECK_FALSE(parse_listen_address("127.0.0.1:65536"));
    CHECK_FALSE(parse_listen_address("127.0.0.1:91x"));
    CHECK_FALSE(parse_listen_address("::1:9187"));
}

TEST_CASE("[notify] and daemon.metrics_listen: defaults, file, environment, errors") {
    const Config defaults = parse_config("", "defaults", {});
    CHECK(defaults.notify.urls.empty());
    CHECK(defaults.notify.format == NotifyFormat::json);
    CHECK_FALSE(defaults.notify.on_success);
    CHECK(defaults.notify.timeout_seconds == 10);
    CHECK(defaults.notify.retries == 3);
    CHECK(defaults.daemon.metrics_listen.empty());

    const Config c = parse_config(
        "[notify]\nurls = [\"https://a.example/x\", \"http://127.0.0.1:8080/y\"]\n"
        "format = \"slack\"\non_success = true\ntimeout = 2\nretries = 0\n"
        "[daemon]\nmetrics_listen = \"127.0.0.1:9187\"\n",
        "t.toml", {});
    CHECK(c.notify.urls.size() == 2);
    CHECK(c.notify.format == NotifyFormat::slack);
    CHECK(c.notify.on_success);
    CHECK(c.notify.timeout_seconds == 2);
    CHECK(c.notify.retries == 0);
    CHECK(c.daemon.metrics_listen == "127.0.0.1:9187");

    const Config e =
        parse_config("", "defaults",
                     {{"PGTIER_NOTIFY_URLS", "https://a.example/x https://b.example/y"},
                      {"PGTIER_NOTIFY_FORMAT", "slack"},
                      {"PGTIER_DAEMON_METRICS_LISTEN", "[::1]:9100"}});
    CHECK(e.notify.urls.size() == 2);
    CHECK(e.notify.format == NotifyFormat::slack);
    CHECK(e.daemon.metrics_listen == "[::1]:9100");

    const auto bad_url =
        config_error("[notify]\nurls = [\"https://ok.example/\", \"secret-hook\"]\n");
    CHECK(contains(bad_url, "notify.urls entry 2 is not an http:// or https:// URL"));
    CHECK_FALSE(contains(bad_url, "secret-hook"));  // a URL is never quoted back
    CHECK(contains(config_error("[notify]\nformat = \"xml\"\n"), "notify.format must be"));
    CHECK(contains(config_error("[notify]\ntimeout = 0\n"), "notify.timeout must be between 1"));
    CHECK(contains(config_error("[notify]\nretries = 11\n"), "notify.retries must be between 0"));
    CHECK(contains(config_error("[daemon]\nmetrics_listen = \"9187\"\n"),
                   "daemon.metrics_listen must be HOST:PORT"));
    CHECK(contains(config_error("", {{"PGTIER_NOTIFY_TIMEOUT", "x"}}),
                   "environment variable PGTIER_NOTIFY_TIMEOUT"));
}

TEST_CASE("resolve_notify_urls reads notify.url_file, one URL a line") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("pgtier-notify-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = dir / "hooks";
    {
        std::ofstream out(file);
        out << "# the team's channel\nhttps://hooks.example/T/B/XYZ\n\n  http://127.0.0.1:1/h  \n";
    }
    Config c = parse_config(
        "[notify]\nurls = [\"https://a.example/x\"]\nurl_file = \"" + file.string() + "\"\n",
        "t.toml", {});
    const auto urls = resolve_notify_urls(c);
    REQUIRE(urls.size() == 3);
    CHECK(urls[0] == "https://a.example/x");
    CHECK(urls[1] == "https://hooks.example/T/B/XYZ");
    CHECK(urls[2] == "http://127.0.0.1:1/h");
    {
        std::ofstream out(file);
        out << "https://hooks.example/ok\nnot-a-url-secret\n";
    }
    try {
        resolve_notify_urls(c);
        FAIL("a bad line was accepted");
    } catch (const ConfigError& err) {
        const std::string what = err.what();
        CHECK(contains(what, file.string() + ":2: not an http:// or https:// URL"));
        CHECK_FALSE(contains(what, "not-a-url-secret"));
    }
    c.notify.url_file = (dir / "missing").string();
    CHECK_THROWS_AS(resolve_notify_urls(c), ConfigError);
    std::filesystem::remove_all(dir);
}

TEST_CASE("NotifyTarget::delivery_bound: every attempt timing out plus the back-offs") {
    NotifyTarget target;
    target.timeout_seconds = 10;
    target.retries = 3;  // 4 attempts, back-offs 1 + 2 + 4 s, and a second of slack
    CHECK(target.delivery_bound() == std::chrono::seconds(48));
    target.retries = 0;
    target.timeout_seconds = 1;
    CHECK(target.delivery_bound() == std::chrono::seconds(2));
}
