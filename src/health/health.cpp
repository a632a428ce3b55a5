#include "clipface/health.hpp"

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/quality.hpp"
#include "clipface/report.hpp"

namespace clipface {
namespace {

std::string number(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

// How a command line names a gallery, a person or a cluster (single quotes when needed).
std::string arg(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
           c == '/';
  });
  return plain ? s : quoted(s);
}

struct Person {
  std::string name;
  std::vector<std::size_t> rows;  // in the labelled vectors
  std::vector<double> sum;        // sum of their unit vectors
};

float l2(std::span<const float> a, std::span<const float> b) {
  return l2_from_cosine(dot(a, b));
}

// Cosine between v and the normalised mean of a sum (optionally without v itself).
float cosine_to_mean(std::span<const float> v, const std::vector<double>& sum, bool without_v) {
  double dot_sum = 0, norm = 0;
  for (std::size_t d = 0; d < v.size(); ++d) {
    const double m = sum[d] - (without_v ? v[d] : 0.0);
    dot_sum += m * v[d];
    norm += m * m;
  }
  return norm > 0 ? static_cast<float>(dot_sum / std::sqrt(norm)) : 0.0f;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

class Checker {
 public:
  Checker(const Gallery& g, const HealthOptions& o, const Embedder* embedder,
          const std::string& spec)
      : g_(g), o_(o), embedder_(embedder), spec_(spec.empty() ? g.model().name : spec) {
    rule_ = g.vote_rule();
    t_ = rule_.threshold;
    labelled_ = g.face_vectors(FaceSet::labelled);
    for (const auto& f : g.face_records(FaceSet::all)) record_[f.id] = f;
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < labelled_.faces.size(); ++i) {
      const auto& f = labelled_.faces[i];
      auto [it, fresh] = index.try_emplace(f.person, people_.size());
      if (fresh) people_.push_back({f.person, {}, std::vector<double>(labelled_.vectors.cols, 0)});
      Person& p = people_[it->second];
      p.rows.push_back(i);
      const auto v = labelled_.vectors.row(i);
      for (std::size_t d = 0; d < v.size(); ++d) p.sum[d] += v[d];
    }
  }

  HealthReport run() {
    HealthReport r;
    r.gallery = g_.dir().string();
    r.model = g_.model();
    r.threshold = t_;
    r.people = g_.people().size();
    r.faces = g_.size();
    r.labelled = g_.labelled_size();
    r.unlabelled = r.faces - r.labelled;
    r.clusters = g_.clusters().size();
    integrity();
    model();
    mislabelled();
    same_person();
    photos();
    quality();
    waiting();
    std::stable_sort(findings_.begin(), findings_.end(), [](const Finding& a, const Finding& b) {
      return static_cast<int>(a.severity) > static_cast<int>(b.severity);
    });
    r.findings = std::move(findings_);
    return r;
  }

 private:
  std::string cmd(const std::string& rest) const { return "clipface " + rest; }
  std::string gallery_arg() const { return arg(g_.dir().string()); }
  std::string file_of(std::int64_t face) const {
    const auto it = record_.find(face);
    return it == record_.end() ? "" : it->second.image_path;
  }
  Finding& add(std::string kind, Severity severity, std::string message, std::string fix = {}) {
    Finding f;
    f.kind = std::move(kind);
    f.severity = severity;
    f.message = std::move(message);
    f.fix = std::move(fix);
    findings_.push_back(std::move(f));
    return findings_.back();
  }
  void look_at(Finding& f, std::int64_t face) {
    f.faces.push_back(face);
    f.files.push_back(file_of(face));
  }
  std::string names(const std::vector<std::string>& people) const {
    std::string out;
    for (std::size_t i = 0; i < people.size() && i < o_.people_listed; ++i) {
      out += (i ? ", " : "") + people[i];
    }
    if (people.size() > o_.people_listed) {
      out += " and " + std::to_string(people.size() - o_.people_listed) + " more (see --json)";
    }
    return out;
  }

  void integrity() {
    const IntegrityReport report = g_.check_integrity();
    for (const auto& p : report.problems) {
      const bool index = p.find("index") != std::string::npos;
      add("integrity", Severity::problem, p,
          index ? "rm " + arg((g_.dir() / kGalleryIndexName).string()) +
                      "  # rebuilt from gallery.db when the gallery is next opened"
                : "restore " + arg((g_.dir() / kGalleryDbName).string()) + " from a backup");
    }
  }

  void model() {
    const ReembedState s = g_.reembed_state();
    if (s.active) {
      add("reembed", Severity::warning,
          "a re-embedding with " + s.target.name + " (" + s.target.crop_style + ") stopped at " +
              std::to_string(s.done + s.failed) + " of " + std::to_string(s.faces) +
              " faces; search still uses " + g_.model().name,
          cmd("reembed " + gallery_arg() + "  # resumes; or --cancel"));
    }
    if (!embedder_) return;
    const EmbedderInfo& e = embedder_->info();
    if (e.name == g_.model().name && e.checksum != g_.model().checksum) {
      add("other_model", Severity::problem,
          "the model file of " + e.name + " is not the one this gallery was made with (sha256 " +
              e.checksum.substr(0, 12) + " here, " + g_.model().checksum.substr(0, 12) +
              " in the gallery): its vectors come from another version of the model",
          cmd("reembed " + gallery_arg() + " --embedder " + arg(spec_)));
      return;
    }
    if (!e.same_space(g_.model())) return;
    // Stored crops embedded again: a vector that is not what this model makes of its own crop
    // came from elsewhere.
    std::size_t checked = 0;
    for (std::size_t i = 0; i < labelled_.faces.size() && checked < o_.model_sample; ++i) {
      const std::size_t row = labelled_.faces.size() <= o_.model_sample
                                  ? i
                                  : i * labelled_.faces.size() / o_.model_sample;
      if (row >= labelled_.faces.size()) break;
      const auto& f = labelled_.faces[row];
      const std::string png = g_.crop_png(f.face_id);
      if (png.empty()) continue;
      cv::Mat crop;
      try {
        crop = decode_image(std::vector<unsigned char>(png.begin(), png.end()), "stored crop");
      } catch (const ImageError&) {
        continue;
      }
      ++checked;
      const Matrix fresh = embedder_->embed_crops({crop});
      const float c = dot(fresh.row(0), labelled_.vectors.row(row));
      if (c < 0.98f) {
        Finding& fd = add("other_model", Severity::problem,
                          "face " + std::to_string(f.face_id) + " of " + quoted(f.person) +
                              ": its stored embedding is not what " + g_.model().name +
                              " makes of its own crop (cosine " + number(c) +
                              "): it was made by another model",
                          cmd("reembed " + gallery_arg() + " --again"));
        fd.people.push_back(f.person);
        fd.score = c;
        look_at(fd, f.face_id);
      }
    }
  }

  void mislabelled() {
    for (const Person& p : people_) {
      const std::size_t n = p.rows.size();
      if (n == 2) {
        const float d = l2(labelled_.vectors.row(p.rows[0]), labelled_.vectors.row(p.rows[1]));
        if (d > 1.3f * t_) {
          Finding& f =
              add("mislabelled", Severity::warning,
                  "the two photos of " + quoted(p.name) +
                      " do not look like one person (distance " + number(d) +
                      ", the gallery's same-person distance " + number(t_) + "); look at both",
                  cmd("people " + gallery_arg() + " split " + arg(p.name) + " " +
                      std::to_string(labelled_.faces[p.rows[1]].face_id)));
          f.people.push_back(p.name);
          f.score = d;
          for (std::size_t r : p.rows) look_at(f, labelled_.faces[r].face_id);
        }
        continue;
      }
      if (n < 3) continue;
      std::vector<double> d(n);
      for (std::size_t k = 0; k < n; ++k) {
        d[k] = l2_from_cosine(cosine_to_mean(labelled_.vectors.row(p.rows[k]), p.sum, true));
      }
      const double m = median(d);
      std::vector<double> dev(n);
      for (std::size_t k = 0; k < n; ++k) dev[k] = std::fabs(d[k] - m);
      const double mad = std::max(1.4826 * median(dev), 0.02 * t_);
      for (std::size_t k = 0; k < n; ++k) {
        if (!(d[k] > t_ && d[k] > m + o_.outlier_deviations * mad)) continue;
        const std::size_t row = p.rows[k];
        const std::int64_t face = labelled_.faces[row].face_id;
        // Whose photos does it look like instead?
        const Person* closer = nullptr;
        double closer_d = d[k];
        for (const Person& q : people_) {
          if (&q == &p) continue;
          const double dq =
              l2_from_cosine(cosine_to_mean(labelled_.vectors.row(row), q.sum, false));
          if (dq < closer_d) closer = &q, closer_d = dq;
        }
        std::string message = "face " + std::to_string(face) + " of " + quoted(p.name) + " (" +
                              file_of(face) +
                              ") lies far from the rest of their photos (distance " + number(d[k]) +
                              " to their mean, the others " + number(m) + ")";
        std::string fix =
            cmd("people " + gallery_arg() + " split " + arg(p.name) + " " + std::to_string(face));
        if (closer) {
          message += "; it looks more like " + quoted(closer->name) + " (" + number(closer_d) + ")";
          fix += " --to " + arg(closer->name);
        }
        Finding& f = add("mislabelled", Severity::warning, message, fix);
        f.people.push_back(p.name);
        if (closer) f.people.push_back(closer->name);
        f.score = d[k];
        look_at(f, face);
      }
    }
  }

  void same_person() {
    // Mean cosine over all pairs of two people's photos, from their sums.
    const auto mean_cross = [](const Person& a, const Person& b) {
      double s = 0;
      for (std::size_t d = 0; d < a.sum.size(); ++d) s += a.sum[d] * b.sum[d];
      return s / (double(a.rows.size()) * double(b.rows.size()));
    };
    const auto mean_within = [&](const Person& a) {
      const double n = double(a.rows.size());
      if (n < 2) return 1.0;
      double s = 0;
      for (double v : a.sum) s += v * v;
      return (s - n) / (n * (n - 1));  // |S|^2 = n + sum over ordered pairs
    };
    const double floor = cosine_from_l2(1.25f * t_);
    for (std::size_t i = 0; i < people_.size(); ++i) {
      for (std::size_t j = i + 1; j < people_.size(); ++j) {
        const Person& a = people_[i];
        const Person& b = people_[j];
        const double cross = mean_cross(a, b);
        const double within = std::min(mean_within(a), mean_within(b));
        if (cross < floor || cross < within - 0.02) continue;
        const Person& from = a.rows.size() <= b.rows.size() ? a : b;
        const Person& into = &from == &a ? b : a;
        Finding& f =
            add("same_person", Severity::warning,
                quoted(a.name) + " and " + quoted(b.name) +
                    " are probably one person: their photos are as close to each other "
                    "(mean cosine " +
                    number(cross) + ") as to their own",
                cmd("people " + gallery_arg() + " merge " + arg(from.name) + " " + arg(into.name)));
        f.people = {a.name, b.name};
        f.score = cross;
        look_at(f, labelled_.faces[a.rows[0]].face_id);
        look_at(f, labelled_.faces[b.rows[0]].face_id);
      }
    }
  }

  void photos() {
    std::vector<std::string> few;
    for (const Person& p : people_) {
      const std::size_t n = p.rows.size();
      if (n < static_cast<std::size_t>(o_.min_photos)) few.push_back(p.name);
      float widest = 0;
      for (std::size_t x = 0; x < n; ++x) {
        for (std::size_t y = x + 1; y < n; ++y) {
          const float d = l2(labelled_.vectors.row(p.rows[x]), labelled_.vectors.row(p.rows[y]));
          widest = std::max(widest, d);
          if (d < o_.duplicate_factor * t_) {
            const std::int64_t a = labelled_.faces[p.rows[x]].face_id;
            const std::int64_t b = labelled_.faces[p.rows[y]].face_id;
            Finding& f = add("duplicate_photos", Severity::warning,
                             "faces " + std::to_string(a) + " and " + std::to_string(b) + " of " +
                                 quoted(p.name) + " are the same photo, or nearly (distance " +
                                 number(d) + "): one view counted twice",
                             cmd("people " + gallery_arg() + " forget " + std::to_string(b)));
            f.people.push_back(p.name);
            f.score = d;
            look_at(f, a);
            look_at(f, b);
          }
        }
      }
      if (n >= 3 && widest < o_.alike_factor * t_) {
        Finding& f = add("alike_photos", Severity::warning,
                         "all " + std::to_string(n) + " photos of " + quoted(p.name) +
                             " are nearly alike (at most " + number(widest) +
                             " apart): one occasion; identify may miss them in other light, "
                             "poses or years",
                         cmd("add " + gallery_arg() + " --person " + arg(p.name) +
                             " PHOTOS_FROM_OTHER_DAYS..."));
        f.people.push_back(p.name);
        f.score = widest;
        for (std::size_t r : p.rows) look_at(f, labelled_.faces[r].face_id);
      }
    }
    if (!few.empty()) {
      Finding& f = add(
          "few_photos", Severity::info,
          std::to_string(few.size()) + " people have fewer than " + std::to_string(o_.min_photos) +
              " photos, so identify knows them from one or two views: " + names(few),
          cmd("add " + gallery_arg() + " --person " +
              (few.size() == 1 ? arg(few[0]) : std::string("NAME")) + " MORE_PHOTOS..."));
      f.people = few;
      f.score = static_cast<double>(few.size());
    }
  }

  void quality() {
    std::size_t without = 0;
    for (const auto& [id, f] : record_) {
      if (f.person.empty()) continue;
      if (!f.quality) {
        ++without;
        continue;
      }
      const std::string low = quality_problems(*f.quality, QualityBar{});
      if (low.empty()) continue;
      Finding& fd = add("low_quality", Severity::warning,
                        "face " + std::to_string(id) + " of " + quoted(f.person) + " (" +
                            f.image_path + "): " + low,
                        cmd("people " + gallery_arg() + " forget " + std::to_string(id)));
      fd.people.push_back(f.person);
      look_at(fd, id);
    }
    if (without > 0) {
      add("no_quality", Severity::info,
          std::to_string(without) +
              " labelled faces have no quality record (enrolled before clipface measured it)");
    }
  }

  void waiting() {
    const auto unlabelled = g_.face_records(FaceSet::unlabelled);
    std::size_t loose = 0;
    for (const auto& f : unlabelled) loose += !f.stranger && f.cluster == 0 ? 1 : 0;
    if (loose > 0) {
      add("unlabelled", Severity::info,
          std::to_string(loose) + " unlabelled faces are in no cluster (new, or left as noise)",
          cmd("cluster " + gallery_arg()));
    }
    for (const auto& c : g_.clusters()) {
      if (c.proposed.empty()) continue;
      Finding& f = add(
          "proposal", Severity::info,
          "cluster #" + std::to_string(c.id) + " (" + std::to_string(c.faces) +
              " faces) looks like " + quoted(c.proposed) + " (score " + number(c.proposed_score) +
              ")",
          cmd("people " + gallery_arg() + " name " + std::to_string(c.id) + " " + arg(c.proposed)));
      f.people.push_back(c.proposed);
      f.score = c.proposed_score;
      for (const auto& face : g_.cluster_faces(c.id)) {
        if (f.faces.size() < 6) look_at(f, face.id);
      }
    }
    const auto cal = g_.calibration();
    if (!cal) {
      add("not_calibrated", Severity::info,
          "the Unknown threshold is the default for " + g_.model().name + " (" + number(t_) +
              "), not measured on this gallery",
          cmd("calibrate " + gallery_arg() + " --far 0.001"));
      return;
    }
    std::size_t then = 0;
    const auto report = nlohmann::json::parse(cal->report_json, nullptr, false);
    if (report.is_object() && report.contains("labelled_faces")) {
      then = report["labelled_faces"].get<std::size_t>();
    }
    const std::size_t now = g_.labelled_size();
    if (then > 0 && (now > then * 6 / 5 || now < then * 4 / 5)) {
      add("stale_calibration", Severity::warning,
          "calibrated on " + std::to_string(then) + " labelled faces (" + cal->created +
              "), the gallery has " + std::to_string(now) + " now",
          cmd("calibrate " + gallery_arg() + " --far " + number(cal->target_far, 6)));
    }
  }

  const Gallery& g_;
  const HealthOptions& o_;
  const Embedder* embedder_;
  std::string spec_;
  KnnVote rule_;
  float t_ = 0;
  FaceVectors labelled_;
  std::map<std::int64_t, FaceRecord> record_;
  std::vector<Person> people_;
  std::vector<Finding> findings_;
};

}  // namespace

std::string to_string(Severity s) {
  return s == Severity::problem ? "problem" : s == Severity::warning ? "warning" : "note";
}

std::size_t HealthReport::count(Severity s) const {
  return static_cast<std::size_t>(std::count_if(findings.begin(), findings.end(),
                                                [s](const Finding& f) { return f.severity == s; }));
}

HealthReport check_health(const Gallery& gallery, const HealthOptions& options,
                          const Embedder* embedder, const std::string& embedder_spec) {
  return Checker(gallery, options, embedder, embedder_spec).run();
}

nlohmann::json to_json(const HealthReport& r) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : r.findings) {
    findings.push_back({{"kind", f.kind},
                        {"severity", to_string(f.severity)},
                        {"message", f.message},
                        {"fix", f.fix},
                        {"people", f.people},
                        {"faces", f.faces},
                        {"files", f.files},
                        {"score", f.score}});
  }
  return {
      {"gallery", r.gallery},
      {"model", {{"name", r.model.name}, {"crop_style", r.model.crop_style}, {"dim", r.model.dim}}},
      {"threshold", r.threshold},
      {"people", r.people},
      {"faces", r.faces},
      {"labelled", r.labelled},
      {"unlabelled", r.unlabelled},
      {"clusters", r.clusters},
      {"problems", r.count(Severity::problem)},
      {"warnings", r.count(Severity::warning)},
      {"notes", r.count(Severity::info)},
      {"findings", findings}};
}

std::string to_text(const HealthReport& r) {
  std::string out = "gallery " + r.gallery + ": " + std::to_string(r.people) + " people, " +
                    std::to_string(r.labelled) + " labelled faces, " +
                    std::to_string(r.unlabelled) + " unlabelled, " + std::to_string(r.clusters) +
                    " clusters; model " + r.model.name + " (" + r.model.crop_style +
                    "), threshold " + number(r.threshold) + "\n";
  out += std::to_string(r.count(Severity::problem)) + " problems, " +
         std::to_string(r.count(Severity::warning)) + " warnings, " +
         std::to_string(r.count(Severity::info)) + " notes\n";
  for (const auto& f : r.findings) {
    out += "\n[" + to_string(f.severity) + "] " + f.kind + ": " + f.message + "\n";
    if (!f.fix.empty()) out += "  fix: " + f.fix + "\n";
  }
  return out;
}

std::filesystem::path write_health_page(const HealthReport& r, const Gallery& gallery,
                                        const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("cannot create report folder " + dir.string() + ": " + ec.message());
  report::HtmlPage page("Gallery health: " + r.gallery);
  page.paragraph(to_text(r).substr(0, to_text(r).find('\n', to_text(r).find('\n') + 1)));
  std::set<std::int64_t> written;
  for (const auto& f : r.findings) {
    page.heading("[" + to_string(f.severity) + "] " + f.kind);
    page.paragraph(f.message);
    if (!f.fix.empty()) page.preformatted(f.fix);
    std::vector<std::string> crops;
    for (const std::int64_t face : f.faces) {
      const std::string name = "face_" + std::to_string(face) + ".png";
      if (!written.count(face)) {
        const std::string png = gallery.crop_png(face);
        if (png.empty()) continue;
        const auto path = dir / name;
        FILE* file = std::fopen(path.c_str(), "wb");
        if (!file || std::fwrite(png.data(), 1, png.size(), file) != png.size()) {
          if (file) std::fclose(file);
          throw InputError("cannot write " + path.string());
        }
        std::fclose(file);
        written.insert(face);
      }
      crops.push_back(name);
    }
    if (!crops.empty()) {
      std::string caption;
      for (std::size_t i = 0; i < f.faces.size(); ++i) {
        caption += (i ? "; " : "") + std::string("face ") + std::to_string(f.faces[i]) + ": " +
                   (i < f.files.size() ? f.files[i] : "");
      }
      page.images_side_by_side(crops, caption);
    }
  }
  const auto index = dir / "index.html";
  page.write(index);
  return index;
}

}  // namespace clipface
