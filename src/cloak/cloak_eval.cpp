// `eval cloak`: the study's retrieval protocol and Fawkes' threat model (see cloak_eval.hpp).
// No LibTorch here: the cloaks come through Cloaker, the measurements through the embedders.
#include "clipface/cloak_eval.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "clipface/embedder.hpp"
#include "clipface/errors.hpp"
#include "clipface/eval/protocols.hpp"
#include "clipface/image.hpp"
#include "clipface/paths.hpp"
#include "clipface/report.hpp"

namespace clipface::cloak {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

const std::vector<std::string> kDefences = {"none", "jpeg", "blur"};

struct Person {
  std::string name;
  std::vector<std::size_t> enroll, probes;  // indices into the common image list
};

// A victim: its embedder and the clean embedding of every image (empty when no face).
struct Victim {
  std::string spec;
  std::unique_ptr<Embedder> embedder;
  bool random_weights = false;
  std::vector<std::vector<float>> clean;
};

double l2(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * static_cast<double>(a[i] - b[i]);
  return std::sqrt(s);
}

cv::Mat defend(const cv::Mat& image, const std::string& defence, const CloakEvalOptions& o) {
  if (defence == "jpeg") {
    std::vector<unsigned char> bytes;
    cv::imencode(".jpg", image, bytes, {cv::IMWRITE_JPEG_QUALITY, o.jpeg_quality});
    return cv::imdecode(bytes, cv::IMREAD_COLOR);
  }
  if (defence == "blur") {
    cv::Mat out;
    cv::GaussianBlur(image, out, cv::Size(0, 0), o.blur_sigma);
    return out;
  }
  return image;
}

// The victim's embedding of a picture through its whole pipeline (detection, face pick,
// alignment); empty when no face is found.
std::vector<float> embed_picture(const Victim& v, const Detector& detector, const cv::Mat& image,
                                 FacePick pick) {
  const auto faces = detector.detect(image);
  const int chosen = pick_face(faces, image.size(), pick);
  if (chosen < 0) return {};
  const Matrix m = v.embedder->embed(image, {faces[static_cast<std::size_t>(chosen)]});
  return {m.row(0).begin(), m.row(0).end()};
}

std::string fmt(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string pct(double v) {
  return fmt(100.0 * v, 2) + "%";
}

void write_csv(const fs::path& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows) {
  std::string text;
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) text += (i ? "," : "") + cells[i];
    text += "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  write_file_atomically(path, text);
}

// The cloaked pictures of one (surrogate, method): image index -> picture, plus budgets.
struct CloakSet {
  std::string surrogate, method;
  std::map<std::size_t, cv::Mat> pictures;
  std::vector<std::vector<std::string>> budget_rows;
};

CloakOptions cloak_options(const CloakEvalOptions& o, Method method, const std::string& model) {
  CloakOptions co;
  co.method = method;
  co.level = o.level;
  co.models = {model};
  co.steps = o.steps;
  co.runtime = o.runtime;
  co.progress = o.progress;
  co.min_face = 0;  // measure every face the victims found
  return co;
}

}  // namespace

double percentile(std::vector<double> values, double q) {
  if (values.empty()) throw InputError("percentile of an empty list");
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (rank - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

CloakEvalOutput run_cloak_eval(const fs::path& dir, const CloakEvalOptions& o) {
  if (o.methods.empty() || o.surrogates.empty() || o.victims.empty())
    throw InputError("eval cloak needs at least one method, one --models and one --victims");
  if (o.min_images < 3) throw InputError("--min-images must be at least 3");
  if (o.enroll_fraction <= 0 || o.enroll_fraction >= 1)
    throw InputError("--enroll-fraction must lie strictly between 0 and 1");
  if (o.jpeg_quality < 1 || o.jpeg_quality > 100) throw InputError("--jpeg-quality: 1..100");
  const auto images = eval::list_labelled_images(dir);
  const auto detector = make_detector(o.embed.detector);

  // Clean embeddings of every image by every victim (through the embedding cache).
  std::vector<Victim> victims;
  std::vector<Face> faces(images.size());
  std::vector<bool> usable(images.size(), true);
  for (const auto& spec : o.victims) {
    Victim v;
    v.spec = spec;
    EmbedderOptions eo;
    eo.runtime = o.runtime;
    v.embedder = make_embedder(spec, eo);
    v.random_weights = v.embedder->info().random_weights;
    eval::EmbedSettings settings = o.embed;
    settings.progress = o.progress;
    settings.progress_label = "embedding (" + spec + ")";
    const eval::EmbeddedSet set = eval::embed_images(images, *v.embedder, *detector, settings);
    v.clean.assign(images.size(), {});
    std::vector<bool> found(images.size(), false);
    for (std::size_t r = 0; r < set.size(); ++r) {
      const std::size_t i = set.source_index[r];
      v.clean[i].assign(set.embeddings.row(r).begin(), set.embeddings.row(r).end());
      faces[i] = set.faces[r];
      found[i] = true;
    }
    for (std::size_t i = 0; i < images.size(); ++i) usable[i] = usable[i] && found[i];
    victims.push_back(std::move(v));
  }

  // People with enough usable photos are evaluated; the others are Fawkes' candidate targets.
  std::map<std::string, std::vector<std::size_t>> by_person;
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (usable[i]) by_person[images[i].person].push_back(i);
  }
  std::vector<Person> people;
  std::vector<PoolImage> pool;
  std::set<std::string> pool_people;
  for (const auto& [name, idx] : by_person) {
    if (idx.size() >= o.min_images && (o.max_people == 0 || people.size() < o.max_people)) {
      Person p;
      p.name = name;
      const auto n_enroll = static_cast<std::size_t>(
          std::clamp<double>(std::round(o.enroll_fraction * static_cast<double>(idx.size())), 1.0,
                             static_cast<double>(idx.size() - 1)));
      p.enroll.assign(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n_enroll));
      p.probes.assign(idx.begin() + static_cast<std::ptrdiff_t>(n_enroll), idx.end());
      people.push_back(std::move(p));
    } else if (o.targets.empty() && idx.size() < o.min_images &&
               pool_people.size() < o.max_target_people) {
      pool_people.insert(name);
      for (std::size_t i : idx) pool.push_back({name, load_image(images[i].path), faces[i]});
    }
  }
  if (people.size() < 2) {
    throw InputError("eval cloak needs at least 2 people with " + std::to_string(o.min_images) +
                     " or more photos with a face in " + dir.string());
  }
  if (!o.targets.empty()) {
    pool = read_target_pool(o.targets, *detector, o.max_target_people);
    for (const auto& p : pool) pool_people.insert(p.person);
  }
  const bool need_fawkes =
      std::find(o.methods.begin(), o.methods.end(), Method::fawkes) != o.methods.end();
  if (need_fawkes && pool.empty()) {
    throw InputError("fawkes needs other people to choose targets from: none in " + dir.string() +
                     " has fewer than " + std::to_string(o.min_images) +
                     " photos; give --targets DIR");
  }

  // Cloak every enrollment photo, per surrogate and method; the study's queries are each
  // person's first enrollment photo, which also gets lowkey over fawkes ("both").
  std::vector<CloakSet> sets;
  bool random_surrogate = false;
  for (const auto& surrogate : o.surrogates) {
    std::map<std::string, CloakSet*> made;
    for (const Method method : o.methods) {
      Cloaker cloaker(cloak_options(o, method, surrogate));
      random_surrogate = random_surrogate || cloaker.random_weights();
      if (method == Method::fawkes) cloaker.set_target_pool(pool);
      sets.push_back({surrogate, to_string(method), {}, {}});
      CloakSet& set = sets.back();
      for (const Person& p : people) {
        std::vector<CloakInput> inputs;
        for (std::size_t i : p.enroll)
          inputs.push_back({images[i].path.string(), load_image(images[i].path), {faces[i]}});
        const auto results = cloaker.cloak(inputs);
        for (std::size_t k = 0; k < results.size(); ++k) {
          set.pictures[p.enroll[k]] = results[k].image;
          set.budget_rows.push_back({surrogate, set.method, images[p.enroll[k]].path.string(),
                                     std::to_string(results[k].linf), fmt(results[k].dssim, 5),
                                     fmt(results[k].psnr, 2), fmt(results[k].seconds, 3),
                                     results[k].target});
        }
      }
    }
    for (auto& s : sets)
      if (s.surrogate == surrogate) made[s.method] = &s;
    if (made.count("fawkes") && made.count("lowkey")) {
      Cloaker lowkey(cloak_options(o, Method::lowkey, surrogate));
      CloakSet both{surrogate, "both", {}, {}};
      const CloakSet& fawkes_set = *made["fawkes"];
      for (const Person& p : people) {
        const std::size_t q = p.enroll.front();
        const auto r =
            lowkey.cloak({{images[q].path.string(), fawkes_set.pictures.at(q), {faces[q]}}});
        both.pictures[q] = r[0].image;
        const cv::Mat clean = load_image(images[q].path);
        both.budget_rows.push_back({surrogate, "both", images[q].path.string(),
                                    std::to_string(linf(clean, r[0].image)),
                                    fmt(dssim(clean(r[0].region), r[0].image(r[0].region)), 5),
                                    fmt(psnr(clean(r[0].region), r[0].image(r[0].region)), 2),
                                    fmt(r[0].seconds, 3), r[0].target});
      }
      sets.push_back(std::move(both));
    }
  }

  // --- measurement -------------------------------------------------------------------------
  std::vector<std::vector<std::string>> study_rows, fawkes_rows, budget_rows;
  json j = {{"protocol", "cloak"},     {"level", to_string(o.level)},
            {"people", people.size()}, {"target_people", pool_people.size()},
            {"study", json::array()},  {"fawkes", json::array()}};
  for (const auto& s : sets)
    budget_rows.insert(budget_rows.end(), s.budget_rows.begin(), s.budget_rows.end());

  for (const Victim& v : victims) {
    // The collection: every usable photo; each query is left out of its own search.
    std::vector<std::size_t> collection;
    for (std::size_t i = 0; i < images.size(); ++i)
      if (usable[i]) collection.push_back(i);
    auto search = [&](const std::vector<float>& e, std::size_t query) {
      std::vector<std::pair<double, std::size_t>> d;
      for (std::size_t c : collection)
        if (c != query) d.emplace_back(l2(e, v.clean[c]), c);
      const std::size_t k = std::min(o.top_k, d.size());
      std::partial_sort(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), d.end());
      d.resize(k);
      return d;
    };
    // Study protocol.
    struct Query {
      std::size_t index;
      std::string person;
      double threshold;
    };
    std::vector<Query> eligible;
    for (const Person& p : people) {
      const std::size_t q = p.enroll.front();
      std::vector<double> same;
      for (std::size_t c : collection)
        if (c != q && images[c].person == p.name) same.push_back(l2(v.clean[q], v.clean[c]));
      const double threshold = percentile(same, o.percentile);
      std::size_t valid = 0;
      for (const auto& [d, c] : search(v.clean[q], q))
        valid += images[c].person == p.name && d <= threshold;
      if (valid >= o.min_valid) eligible.push_back({q, p.name, threshold});
    }
    auto keeps = [&](const Query& q, const cv::Mat& picture, const std::string& defence,
                     bool& no_face) {
      const auto e = embed_picture(v, *detector, defend(picture, defence, o), o.embed.pick);
      no_face = e.empty();
      if (no_face) return false;
      for (const auto& [d, c] : search(e, q.index))
        if (images[c].person == q.person && d <= q.threshold) return true;
      return false;
    };
    auto study_row = [&](const std::string& surrogate, const std::string& method,
                         const std::string& defence, std::size_t kept, std::size_t no_face) {
      const double share = eligible.empty() ? 0.0 : static_cast<double>(kept) / eligible.size();
      study_rows.push_back({v.spec, surrogate, method, defence, std::to_string(eligible.size()),
                            std::to_string(kept), fmt(share, 4), std::to_string(no_face)});
      j["study"].push_back({{"victim", v.spec},
                            {"surrogate", surrogate},
                            {"method", method},
                            {"defence", defence},
                            {"eligible", eligible.size()},
                            {"kept", kept},
                            {"share", share},
                            {"no_face", no_face}});
    };
    for (const auto& defence : kDefences) {
      std::size_t kept = 0, lost_face = 0;
      for (const Query& q : eligible) {
        bool no_face = false;
        kept += keeps(q, load_image(images[q.index].path), defence, no_face);
        lost_face += no_face;
      }
      study_row("-", "clean", defence, kept, lost_face);
    }
    for (const auto& s : sets) {
      for (const auto& defence : kDefences) {
        std::size_t kept = 0, lost_face = 0;
        for (const Query& q : eligible) {
          bool no_face = false;
          kept += keeps(q, s.pictures.at(q.index), defence, no_face);
          lost_face += no_face;
        }
        study_row(s.surrogate, s.method, defence, kept, lost_face);
      }
    }

    // Fawkes' threat model: top-1 over the enrolled photos of every evaluated person.
    std::vector<std::pair<std::string, std::vector<float>>> gallery;
    for (const Person& p : people)
      for (std::size_t i : p.enroll) gallery.emplace_back(p.name, v.clean[i]);
    auto top1 = [&](const std::vector<std::pair<std::string, std::vector<float>>>& g,
                    const std::vector<float>& e) {
      double best = 1e300;
      std::string who;
      for (const auto& [name, ge] : g) {
        const double d = l2(e, ge);
        if (d < best) {
          best = d;
          who = name;
        }
      }
      return who;
    };
    std::size_t probes = 0, clean_hits = 0;
    for (const Person& p : people) {
      for (std::size_t i : p.probes) {
        ++probes;
        clean_hits += top1(gallery, v.clean[i]) == p.name;
      }
    }
    const double clean_top1 = probes ? static_cast<double>(clean_hits) / probes : 0.0;
    for (const auto& s : sets) {
      if (s.method == "both") continue;  // the study's combination is for its queries only
      for (const auto& defence : kDefences) {
        std::size_t hits = 0;
        for (const Person& p : people) {
          // This person's enrollment photos as the cloak and the defence left them.
          std::vector<std::pair<std::string, std::vector<float>>> g;
          for (const auto& entry : gallery)
            if (entry.first != p.name) g.push_back(entry);
          for (std::size_t i : p.enroll) {
            auto e =
                embed_picture(v, *detector, defend(s.pictures.at(i), defence, o), o.embed.pick);
            if (!e.empty()) g.emplace_back(p.name, std::move(e));
          }
          for (std::size_t i : p.probes) hits += top1(g, v.clean[i]) == p.name;
        }
        const double after = probes ? static_cast<double>(hits) / probes : 0.0;
        fawkes_rows.push_back({v.spec, s.surrogate, s.method, defence, std::to_string(probes),
                               fmt(clean_top1, 4), fmt(after, 4)});
        j["fawkes"].push_back({{"victim", v.spec},
                               {"surrogate", s.surrogate},
                               {"method", s.method},
                               {"defence", defence},
                               {"probes", probes},
                               {"top1_clean", clean_top1},
                               {"top1_cloaked", after}});
      }
    }
  }

  // --- outputs -----------------------------------------------------------------------------
  CloakEvalOutput out;
  fs::create_directories(o.output_dir);
  const std::vector<std::string> study_header = {"victim",   "surrogate", "method", "defence",
                                                 "eligible", "kept",      "share",  "no_face"};
  const std::vector<std::string> fawkes_header = {"victim", "surrogate",  "method",      "defence",
                                                  "probes", "top1_clean", "top1_cloaked"};
  const std::vector<std::string> budget_header = {"surrogate", "method",  "image",   "linf",
                                                  "dssim",     "psnr_db", "seconds", "target"};
  const fs::path study_csv = o.output_dir / "cloak_study.csv";
  const fs::path fawkes_csv = o.output_dir / "cloak_fawkes.csv";
  const fs::path budget_csv = o.output_dir / "cloak_budgets.csv";
  write_csv(study_csv, study_header, study_rows);
  write_csv(fawkes_csv, fawkes_header, fawkes_rows);
  write_csv(budget_csv, budget_header, budget_rows);
  out.files = {study_csv, fawkes_csv, budget_csv};

  const bool random =
      random_surrogate ||
      std::any_of(victims.begin(), victims.end(), [](const Victim& v) { return v.random_weights; });
  // The charts carry the random-weights warning too: a PNG travels without its table.
  const std::string note = random ? std::string(" - ") + eval::kRandomWeightsWarning : "";
  // Charts: one bar per (surrogate -> victim, method, defence).
  const bool several = victims.size() > 1 || o.surrogates.size() > 1;
  report::BarChart study_chart{
      "Study protocol: queries still found (" + to_string(o.level) + ")" + note,
      "",
      "share of eligible queries",
      {},
      {}};
  for (const auto& r : study_rows) {
    const std::string pair = several ? r[1] + ">" + r[0] + " " : "";
    study_chart.categories.push_back(pair + r[2] + (r[3] == "none" ? "" : "+" + r[3]));
    study_chart.values.push_back(std::stod(r[6]));
  }
  report::BarChart fawkes_chart{
      "Fawkes threat model: top-1 after cloaking enrollment" + note, "", "top-1 accuracy", {}, {}};
  std::set<std::string> clean_bars;
  for (const auto& r : fawkes_rows) {
    if (clean_bars.insert(r[0]).second) {
      fawkes_chart.categories.push_back((victims.size() > 1 ? r[0] + " " : "") + "clean");
      fawkes_chart.values.push_back(std::stod(r[5]));
    }
    const std::string pair = several ? r[1] + ">" + r[0] + " " : "";
    fawkes_chart.categories.push_back(pair + r[2] + (r[3] == "none" ? "" : "+" + r[3]));
    fawkes_chart.values.push_back(std::stod(r[6]));
  }
  const fs::path study_png = o.output_dir / "cloak_study.png";
  const fs::path fawkes_png = o.output_dir / "cloak_fawkes.png";
  report::draw(study_chart, study_png, 1280, 540);
  report::draw(fawkes_chart, fawkes_png, 1280, 540);
  out.files.push_back(study_png);
  out.files.push_back(fawkes_png);
  if (several) {
    // Transfer matrices: rows = the model the cloak was made on, columns = the victim.
    for (const auto& s_method : {std::string("fawkes"), std::string("lowkey")}) {
      report::HeatMap map;
      map.title = "Transfer (" + s_method + ", study share still found)" + note;
      map.rows = o.surrogates;
      map.cols = o.victims;
      map.row_label = "cloak made on";
      map.col_label = "measured on";
      map.values.assign(map.rows.size(), std::vector<double>(map.cols.size(), 0.0));
      bool any = false;
      for (const auto& r : study_rows) {
        if (r[2] != s_method || r[3] != "none") continue;
        const auto ri = std::find(map.rows.begin(), map.rows.end(), r[1]) - map.rows.begin();
        const auto ci = std::find(map.cols.begin(), map.cols.end(), r[0]) - map.cols.begin();
        map.values[static_cast<std::size_t>(ri)][static_cast<std::size_t>(ci)] = std::stod(r[6]);
        any = true;
      }
      if (!any) continue;
      const fs::path png = o.output_dir / ("cloak_transfer_" + s_method + ".png");
      report::draw(map, png);
      out.files.push_back(png);
    }
  }

  std::string text;
  if (random) {
    text += std::string(eval::kRandomWeightsWarning) + "\n";
    j["warning"] = eval::kRandomWeightsWarning;
  }
  text += "people evaluated: " + std::to_string(people.size()) +
          ", candidate target identities: " + std::to_string(pool_people.size()) + "\n\n";
  text += "Study protocol (query cloaked; share of eligible queries still found):\n";
  std::vector<std::vector<std::string>> shown;
  for (auto r : study_rows) {
    r[6] = pct(std::stod(r[6]));
    shown.push_back(r);
  }
  text += eval::format_table(study_header, shown) + "\n";
  text += "Fawkes threat model (enrollment cloaked; clean probes, top-1):\n";
  shown.clear();
  for (auto r : fawkes_rows) {
    r[5] = pct(std::stod(r[5]));
    r[6] = pct(std::stod(r[6]));
    shown.push_back(r);
  }
  text += eval::format_table(fawkes_header, shown);
  j["files"] = json::array();
  for (const auto& f : out.files) j["files"].push_back(f.string());
  out.json = std::move(j);
  out.text = std::move(text);
  return out;
}

}  // namespace clipface::cloak
