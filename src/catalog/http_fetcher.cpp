// libcurl transport for the catalogue: one easy handle per fetcher, reused between requests
// (keep-alive), owned by a unique_ptr. Only http/https, redirects followed, gzip accepted.

#include "baims/catalog/search.hpp"
#include "baims/core/interrupt.hpp"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#ifndef BAIMS_VERSION
#define BAIMS_VERSION "0"
#endif

namespace baims::catalog {

namespace {

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
    void operator()(CURL* h) const noexcept { curl_easy_cleanup(h); }
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* body = static_cast<std::string*>(user);
    body->append(data, size * n);
    return size * n;
}

// Aborts a transfer when SIGINT/SIGTERM arrived.
int on_progress(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return interrupted() ? 1 : 0;
}

class HttpClient {
public:
    explicit HttpClient(HttpOptions options)
        : m_options(std::move(options)) {
        global_init();
        m_handle.reset(curl_easy_init());
        if (m_options.user_agent.empty()) {
            m_options.user_agent = std::string("baims/") + BAIMS_VERSION;
        }
    }

    HttpResponse get(const std::string& url) {
        HttpResponse r;
        CURL* h = m_handle.get();
        if (!h) {
            r.error = "cannot initialise libcurl";
            return r;
        }
        curl_easy_reset(h);
        char errbuf[CURL_ERROR_SIZE] = {0};
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, m_options.connect_timeout_seconds);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, m_options.timeout_seconds);
        curl_easy_setopt(h, CURLOPT_USERAGENT, m_options.user_agent.c_str());
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &on_progress);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        CURLcode rc = curl_easy_perform(h);
        if (rc != CURLE_OK) {
            r.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
            r.body.clear();
            return r;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
        curl_off_t retry_after = 0;
        if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
            retry_after > 0) {
            r.retry_after_seconds = static_cast<long>(retry_after);
        }
        return r;
    }

private:
    HttpOptions m_options;
    std::unique_ptr<CURL, EasyDeleter> m_handle;
};

} // namespace

Fetcher http_fetcher(const HttpOptions& options) {
    auto client = std::make_shared<HttpClient>(options);
    return [client](const std::string& url) { return client->get(url); };
}

} // namespace baims::catalog
