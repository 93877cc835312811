// A webhook receiver for the integration tests (cpp-httplib's server): binds 127.0.0.1 on a
// free port, writes the port to PORT_FILE, and for each POST writes the body to DIR/N.json
// (N = 1, 2, …) and answers as the mode says:
//   ok           200
//   fail-first=K 500 to the first K requests, then 200
//   slow=S       sleeps S seconds, then 200 (the client's timeout should end it first)
// Usage: pgtier_webhook_listener PORT_FILE DIR [MODE]; runs until killed.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s PORT_FILE DIR [ok|fail-first=K|slow=S]\n", argv[0]);
        return 2;
    }
    const std::string port_file = argv[1];
    const std::string dir = argv[2];
    const std::string mode = argc > 3 ? argv[3] : "ok";
    int fail_first = 0;
    int slow_seconds = 0;
    if (mode.rfind("fail-first=", 0) == 0) fail_first = std::stoi(mode.substr(11));
    if (mode.rfind("slow=", 0) == 0) slow_seconds = std::stoi(mode.substr(5));

    std::atomic<int> count{0};
    httplib::Server server;
    server.Post(".*", [&](const httplib::Request& request, httplib::Response& response) {
        const int n = ++count;
        {
            std::ofstream out(dir + "/" + std::to_string(n) + ".json");
            out << request.body;
        }
        {
            std::ofstream out(dir + "/" + std::to_string(n) + ".meta");
            out << request.path << "\n" << request.get_header_value("Content-Type") << "\n";
        }
        if (slow_seconds > 0) std::this_thread::sleep_for(std::chrono::seconds(slow_seconds));
        response.status = n <= fail_first ? 500 : 200;
        response.set_content(n <= fail_first ? "failing on purpose\n" : "ok\n", "text/plain");
    });
    const int port = server.bind_to_any_port("127.0.0.1");
    if (port <= 0) {
        std::fprintf(stderr, "cannot bind 127.0.0.1\n");
        return 1;
    }
    {
        std::ofstream out(port_file + ".tmp");
        out << port << "\n";
    }
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
    return server.listen_after_bind() ? 0 : 1;
}
