// bot-detection (PRIORITY 2500): refuses requests whose User-Agent matches
// `deny` or one of Kong's built-in bot patterns (403), unless it matches
// `allow` first; a repeated User-Agent is a 400, an absent one passes.
// Kong caches each User-Agent's verdict in a bounded LRU per worker and per
// plugin instance; so do we (see UaCache).
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "plugins/bundled.h"
#include "router/regex.h"

namespace wg::plugins {
namespace {

using Patterns = std::vector<std::shared_ptr<const router::Regex>>;

// Kong's built-in bot rules (kong/plugins/bot-detection/rules.lua, which
// takes them from ua-parser's uap-core regexes.yaml): matched unanchored and
// case-sensitively, as ngx.re.find does.
constexpr const char* kBotRules[] = {
    // Pingdom
    R"((Pingdom\.com_bot_version_)(\d+)\.(\d+))",
    // Facebook
    R"((facebookexternalhit)/(\d+)\.(\d+))",
    // Google Plus
    R"(Google.*/\+/web/snippet)",
    // Twitter
    R"((Twitterbot)/(\d+)\.(\d+))",
    // AWS S3 Clients
    R"(\b(Boto3?|JetS3t|aws-(?:cli|sdk-(?:cpp|go|java|nodejs|ruby2?|dotnet-(?:\d{1,2}|core)))|s3fs)/(\d+)\.(\d+)(?:\.(\d+)|))",
    // PTST / WebPageTest.org crawlers
    R"( PTST/\d+(?:\.)?\d+$)",
    // Bots Pattern '/name-0.0'
    R"(/((?:Ant-)?Nutch|[A-z]+[Bb]ot|[A-z]+[Ss]pider|Axtaris|fetchurl|Isara|ShopSalad|Tailsweep)[ \-](\d+)(?:\.(\d+)(?:\.(\d+))?)?)",
    // Bots Pattern 'name/0.0'
    R"(\b(008|Altresium|Argus|BaiduMobaider|BoardReader|DNSGroup|DataparkSearch|EDI|Goodzer|Grub|INGRID|Infohelfer|LinkedInBot|LOOQ|Nutch|OgScrper|PathDefender|Peew|PostPost|Steeler|Twitterbot|VSE|WebCrunch|WebZIP|Y!J-BR[A-Z]|YahooSeeker|envolk|sproose|wminer)/(\d+)(?:\.(\d+)|)(?:\.(\d+)|))",
    // MSIECrawler
    R"((MSIE) (\d+)\.(\d+)([a-z]\d|[a-z]|);.* MSIECrawler)",
    // Downloader ...
    R"((Google-HTTP-Java-Client|Apache-HttpClient|Go-http-client|scalaj-http|http%20client|Python-urllib|HttpMonitor|TLSProber|WinHTTP|JNLP|okhttp|aihttp|reqwest|axios|unirest-(?:java|python|ruby|nodejs|php|net))(?:[ /](\d+)(?:\.(\d+)|)(?:\.(\d+)|)|))",
    // Bots
    R"((CSimpleSpider|Cityreview Robot|CrawlDaddy|CrawlFire|Finderbots|Index crawler|Job Roboter|KiwiStatus Spider|Lijit Crawler|QuerySeekerSpider|ScollSpider|Trends Crawler|USyd-NLP-Spider|SiteCat Webbot|BotName\/\$BotVersion|123metaspider-Bot|1470\.net crawler|50\.nu|8bo Crawler Bot|Aboundex|Accoona-[A-z]{1,30}-Agent|AdsBot-Google(?:-[a-z]{1,30}|)|altavista|AppEngine-Google|archive.{0,30}\.org_bot|archiver|Ask Jeeves|[Bb]ai[Dd]u[Ss]pider(?:-[A-Za-z]{1,30})(?:-[A-Za-z]{1,30}|)|bingbot|BingPreview|blitzbot|BlogBridge|Bloglovin|BoardReader Blog Indexer|BoardReader Favicon Fetcher|boitho.com-dc|BotSeer|BUbiNG|\b\w{0,30}favicon\w{0,30}\b|\bYeti(?:-[a-z]{1,30}|)|Catchpoint(?: bot|)|[Cc]harlotte|Checklinks|clumboot|Comodo HTTP\(S\) Crawler|Comodo-Webinspector-Crawler|ConveraCrawler|CRAWL-E|CrawlConvera|Daumoa(?:-feedfetcher|)|Feed Seeker Bot|Feedbin|findlinks|Flamingo_SearchEngine|FollowSite Bot|furlbot|Genieo|gigabot|GomezAgent|gonzo1|(?:[a-zA-Z]{1,30}-|)Googlebot(?:-[a-zA-Z]{1,30}|)|Google SketchUp|grub-client|gsa-crawler|heritrix|HiddenMarket|holmes|HooWWWer|htdig|ia_archiver|ICC-Crawler|Icarus6j|ichiro(?:/mobile|)|IconSurf|IlTrovatore(?:-Setaccio|)|InfuzApp|Innovazion Crawler|InternetArchive|IP2[a-z]{1,30}Bot|jbot\b|KaloogaBot|Kraken|Kurzor|larbin|LEIA|LesnikBot|Linguee Bot|LinkAider|LinkedInBot|Lite Bot|Llaut|lycos|Mail\.RU_Bot|masscan|masidani_bot|Mediapartners-Google|Microsoft .{0,30} Bot|mogimogi|mozDex|MJ12bot|msnbot(?:-media {0,2}|)|msrbot|Mtps Feed Aggregation System|netresearch|Netvibes|NewsGator[^/]{0,30}|^NING|Nutch[^/]{0,30}|Nymesis|ObjectsSearch|OgScrper|Orbiter|OOZBOT|PagePeeker|PagesInventory|PaxleFramework|Peeplo Screenshot Bot|PlantyNet_WebRobot|Pompos|Qwantify|Read%20Later|Reaper|RedCarpet|Retreiver|Riddler|Rival IQ|scooter|Scrapy|Scrubby|searchsight|seekbot|semanticdiscovery|SemrushBot|Simpy|SimplePie|SEOstats|SimpleRSS|SiteCon|Slackbot-LinkExpanding|Slack-ImgProxy|Slurp|snappy|Speedy Spider|Squrl Java|Stringer|TheUsefulbot|ThumbShotsBot|Thumbshots\.ru|Tiny Tiny RSS|Twitterbot|WhatsApp|URL2PNG|Vagabondo|VoilaBot|^vortex|Votay bot|^voyager|WASALive.Bot|Web-sniffer|WebThumb|WeSEE:[A-z]{1,30}|WhatWeb|WIRE|WordPress|Wotbox|www\.almaden\.ibm\.com|Xenu(?:.s|) Link Sleuth|Xerka [A-z]{1,30}Bot|yacy(?:bot|)|YahooSeeker|Yahoo! Slurp|Yandex\w{1,30}|YodaoBot(?:-[A-z]{1,30}|)|YottaaMonitor|Yowedo|^Zao|^Zao-Crawler|ZeBot_www\.ze\.bz|ZooShot|ZyBorg)(?:[ /]v?(\d+)(?:\.(\d+)(?:\.(\d+)|)|)|))",
    // Bots General matcher 'name/0.0'
    R"((?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50}))[/ ](\d+)(?:\.(\d+)(?:\.(\d+)|)|))",
    // Bots General matcher 'name 0.0'
    R"((?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50})) (\d+)(?:\.(\d+)(?:\.(\d+)|)|))",
    // Bots containing spider|scrape|bot(but not CUBOT)|Crawl
    R"(((?:[A-z0-9]{1,50}|[A-z\-]{1,50} ?|)(?: the |)(?:[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[Cc][Rr][Aa][Ww][Ll])[A-z0-9]{0,50})(?:(?:[ /]| v)(\d+)(?:\.(\d+)|)(?:\.(\d+)|)|))",
};

std::shared_ptr<const router::Regex> compile(std::string_view pattern, std::string* error) {
  return router::Regex::compile(pattern, /*anchored=*/false, /*caseless=*/false, error);
}

// Compiled once for the process: every instance shares them.
const Patterns& bot_rules() {
  static const Patterns rules = [] {
    Patterns out;
    for (const char* p : kBotRules) {
      std::string error;
      if (auto re = compile(p, &error)) out.push_back(std::move(re));
    }
    return out;
  }();
  return rules;
}

enum Match : uint8_t { kEmpty, kAllow, kDeny, kBot };

// A worker's LRU of User-Agent -> verdict for one plugin instance. Kong
// keeps 10^4 per worker and instance; a hit allocates nothing.
class UaCache {
 public:
  static constexpr size_t kCapacity = 10000;

  const Match* get(std::string_view ua) {
    auto it = index_.find(ua);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);  // now most recent
    return &it->second->second;
  }

  void set(std::string_view ua, Match m) {
    if (index_.size() >= kCapacity) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(std::string(ua), m);
    index_.emplace(order_.front().first, order_.begin());  // the key views the node's string
  }

 private:
  std::list<std::pair<std::string, Match>> order_;
  std::unordered_map<std::string_view, std::list<std::pair<std::string, Match>>::iterator> index_;
};

class BotDetection : public Plugin {
 public:
  BotDetection(Patterns allow, Patterns deny)
      : Plugin("bot-detection", 2500, pipeline::phase_bit(pipeline::Phase::Access)),
        allow_(std::move(allow)),
        deny_(std::move(deny)) {}

 protected:
  Verdict access(Exchange& x, Slot&) const override {
    std::string_view ua;
    int count = 0;
    for (const auto& h : x.request_headers) {
      if (h.id != http::HeaderId::UserAgent) continue;
      ua = h.value;
      ++count;
    }
    if (count > 1) return exit_error(x, 400, "Only one User-Agent header allowed");
    if (count == 0) return Verdict::Continue;
    UaCache& cache = worker_cache();
    const Match* cached = cache.get(ua);
    Match m = cached != nullptr ? *cached : examine(ua);
    if (cached == nullptr) cache.set(ua, m);
    if (m == kDeny || m == kBot) return exit_error(x, 403);
    return Verdict::Continue;
  }

 private:
  // allow first, then deny, then the built-in rules, on the User-Agent
  // without its surrounding whitespace.
  Match examine(std::string_view ua) const {
    while (!ua.empty() && (ua.front() == ' ' || (ua.front() >= '\t' && ua.front() <= '\r'))) ua.remove_prefix(1);
    while (!ua.empty() && (ua.back() == ' ' || (ua.back() >= '\t' && ua.back() <= '\r'))) ua.remove_suffix(1);
    for (const auto& re : allow_) {
      if (re->match(ua)) return kAllow;
    }
    for (const auto& re : deny_) {
      if (re->match(ua)) return kDeny;
    }
    for (const auto& re : bot_rules()) {
      if (re->match(ua)) return kBot;
    }
    return kEmpty;
  }

  // This worker's cache for this instance. The plugin is shared by every
  // worker, so each thread keeps its own, tied to the instance by `alive_`:
  // once the instance is gone (a new config), its caches are dropped the
  // next time a thread makes a cache, as Kong's weak table drops them.
  UaCache& worker_cache() const {
    struct Entry {
      const BotDetection* owner;
      std::weak_ptr<const int> alive;
      std::unique_ptr<UaCache> cache;
    };
    thread_local std::vector<Entry> caches;
    for (auto& e : caches) {
      if (e.owner == this && !e.alive.expired()) return *e.cache;
    }
    std::erase_if(caches, [](const Entry& e) { return e.alive.expired(); });
    caches.push_back({this, alive_, std::make_unique<UaCache>()});
    return *caches.back().cache;
  }

  Patterns allow_, deny_;
  std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);
};

// Kong's is_regex: the pattern must compile.
std::optional<std::string> check_regex(const config::Value& v) {
  std::string error;
  const std::string& s = v.get_ref<const std::string&>();
  if (compile(s, &error) != nullptr) return std::nullopt;
  return "not a valid regex: " + s;
}

bool compile_all(const config::Value& c, const char* key, Patterns* out, std::string* error) {
  auto it = c.find(key);
  if (it == c.end() || !it->is_array()) return true;
  for (const auto& p : *it) {
    auto re = compile(p.get<std::string>(), error);
    if (re == nullptr) return false;
    out->push_back(std::move(re));
  }
  return true;
}

}  // namespace

PluginType bot_detection_type() {
  Field config = config_record({
      Field("allow", Type::Array).of(Field("", Type::String).check(check_regex)).def(config::Value::array()),
      Field("deny", Type::Array).of(Field("", Type::String).check(check_regex)).def(config::Value::array()),
  });
  return {"bot-detection", 2500, config,
          [](const config::Value& c, const BuildContext&, std::string* error) -> std::shared_ptr<Plugin> {
            Patterns allow, deny;
            if (!compile_all(c, "allow", &allow, error) || !compile_all(c, "deny", &deny, error)) return nullptr;
            bot_rules();  // compiled now rather than on a first request
            return std::make_shared<BotDetection>(std::move(allow), std::move(deny));
          },
          /*no_consumer=*/true};
}

}  // namespace wg::plugins
