// pgtier_s3_probe: drives S3Client from the command line for tests/integration/test_s3_client.sh.
//
//   pgtier_s3_probe put-file KEY FILE | put KEY (body on stdin) | get KEY (to stdout)
//                   range KEY OFFSET LEN (to stdout) | list PREFIX | head KEY | rm KEY | mb
//
// Location and credentials come from the environment: S3_ENDPOINT, S3_REGION, S3_BUCKET,
// S3_PREFIX, S3_PATH_STYLE (1 = path style), S3_CA_FILE, S3_VERIFY_TLS (0 = off),
// S3_ACCESS_KEY, S3_SECRET_KEY, S3_SESSION_TOKEN; sizes from S3_SINGLE_PUT_MAX,
// S3_MIN_PART_SIZE, S3_LIST_PAGE_SIZE (bytes / keys). Byte counts go to stderr as
// "downloaded N" / "uploaded N" (put-file adds "sha256 HEX": what it sent); a failure prints the
// message, "http status N" and "retryable yes|no" to stderr and exits 1 (2 for bad usage).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "pgtier/storage/s3_client.hpp"
#include "pgtier/sys/files.hpp"

using namespace pgtier;

namespace {

std::string env(const char* name, const char* fallback = "") {
    const char* value = std::getenv(name);
    return value != nullptr ? value : fallback;
}

std::uint64_t env_size(const char* name, std::uint64_t fallback) {
    const std::string value = env(name);
    return value.empty() ? fallback : std::stoull(value);
}

void write_out(const char* data, std::size_t size) {
    if (std::fwrite(data, 1, size, stdout) != size) throw Error("cannot write to stdout");
}

int run(int argc, char** argv) {
    const std::string command = argc > 1 ? argv[1] : "";
    auto arg = [&](int i) -> std::string {
        if (i >= argc)
            throw ConfigError("usage: pgtier_s3_probe " + command + ": missing argument");
        return argv[i];
    };
    S3Location location;
    location.endpoint = env("S3_ENDPOINT");
    location.region = env("S3_REGION", "us-east-1");
    location.bucket = env("S3_BUCKET");
    location.prefix = env("S3_PREFIX");
    location.path_style = env("S3_PATH_STYLE", "1") == "1";
    location.ca_file = env("S3_CA_FILE");
    location.verify_tls = env("S3_VERIFY_TLS", "1") != "0";
    S3Tuning tuning;
    tuning.single_put_max = env_size("S3_SINGLE_PUT_MAX", tuning.single_put_max);
    tuning.min_part_size = env_size("S3_MIN_PART_SIZE", tuning.min_part_size);
    tuning.list_page_size =
        static_cast<unsigned>(env_size("S3_LIST_PAGE_SIZE", tuning.list_page_size));
    S3Client client(location, {env("S3_ACCESS_KEY"), env("S3_SECRET_KEY"), env("S3_SESSION_TOKEN")},
                    tuning);

    if (command == "put-file") {
        const std::string path = arg(3);
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st = {};
        if (!fd || ::fstat(fd.get(), &st) != 0) {
            throw Error("cannot open " + path + ": " + errno_text(errno));
        }
        const S3Upload sent =
            client.put_file(arg(2), fd.get(), static_cast<std::uint64_t>(st.st_size));
        std::cerr << "uploaded " << client.bytes_uploaded() << "\n"
                  << "sha256 " << sent.sha256 << "\n";
    } else if (command == "put") {
        const std::string body((std::istreambuf_iterator<char>(std::cin)),
                               std::istreambuf_iterator<char>());
        client.put(arg(2), body);
        std::cerr << "uploaded " << client.bytes_uploaded() << "\n";
    } else if (command == "get") {
        const std::string body = client.get(arg(2));
        write_out(body.data(), body.size());
        std::cerr << "downloaded " << client.bytes_downloaded() << "\n";
    } else if (command == "range") {
        client.get_range(arg(2), std::stoull(arg(3)), std::stoull(arg(4)), write_out);
        std::cerr << "downloaded " << client.bytes_downloaded() << "\n";
    } else if (command == "list") {
        for (const S3Object& object : client.list(argc > 2 ? argv[2] : "")) {
            std::cout << object.key << " " << object.size << "\n";
        }
    } else if (command == "head") {
        const std::optional<S3Object> object = client.head(arg(2));
        if (object) {
            std::cout << object->key << " " << object->size << " " << object->etag << "\n";
        } else {
            std::cout << "absent\n";
        }
    } else if (command == "rm") {
        client.remove(arg(2));
    } else if (command == "mb") {
        client.create_bucket();
    } else {
        throw ConfigError(
            "usage: pgtier_s3_probe put-file KEY FILE | put KEY | get KEY | range KEY OFFSET LEN "
            "| list PREFIX | head KEY | rm KEY | mb");
    }
    std::fflush(stdout);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const S3Error& e) {
        std::cerr << "pgtier_s3_probe: " << e.what() << "\nhttp status " << e.http_status()
                  << "\nretryable " << (e.retryable() ? "yes" : "no") << "\n";
    } catch (const ConfigError& e) {
        std::cerr << "pgtier_s3_probe: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "pgtier_s3_probe: " << e.what() << "\n";
    }
    return 1;
}
