#include "monitoring/webhook.h"

#include <curl/curl.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace hotswap::monitoring {
namespace {
size_t DiscardBody(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }
}  // namespace

WebhookSender::WebhookSender(std::string url, size_t max_queued)
    : url_(std::move(url)), max_queued_(max_queued) {
  if (!url_.empty()) thread_ = std::thread([this] { Loop(); });
}

WebhookSender::~WebhookSender() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::Enqueue(const nlohmann::json& event) {
  if (url_.empty()) return;
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= max_queued_) {
    dropped_.fetch_add(1);
    return;
  }
  queue_.push_back(event.dump());
  cv_.Signal();
}

void WebhookSender::Loop() {
  CURL* curl = curl_easy_init();
  for (;;) {
    std::string body;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) cv_.Wait(&mu_);
      if (queue_.empty()) break;
      body = std::move(queue_.front());
      queue_.pop_front();
      stopping = stopping_;
    }
    bool ok = false;
    for (int attempt = 0; attempt < (stopping ? 1 : 3) && !ok; ++attempt) {
      if (attempt > 0) absl::SleepFor(absl::Milliseconds(200 * attempt));
      curl_easy_reset(curl);
      struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
      curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
      curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
      curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &DiscardBody);
      CURLcode rc = curl_easy_perform(curl);
      long status = 0;
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
      curl_slist_free_all(headers);
      ok = rc == CURLE_OK && status >= 200 && status < 300;
    }
    (ok ? sent_ : failed_).fetch_add(1);
    if (!ok) log::Warn("webhook delivery failed", {{"url", url_}});
  }
  curl_easy_cleanup(curl);
}

std::string WebhookSender::RenderPrometheus(const std::string& metric,
                                            const std::string& help) const {
  return absl::StrCat("# HELP ", metric, " ", help, "\n# TYPE ", metric, " counter\n", metric,
                      "{result=\"sent\"} ", sent(), "\n", metric, "{result=\"failed\"} ", failed(),
                      "\n", metric, "{result=\"dropped\"} ", dropped(), "\n");
}

}  // namespace hotswap::monitoring
