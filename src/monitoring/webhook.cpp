#include "monitoring/webhook.h"

#include <curl/curl.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/json_post.h"
#include "common/log.h"

namespace hotswap::monitoring {

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
      ok = IsSuccess(PostJsonOnce(curl, url_, body, 5000));
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
