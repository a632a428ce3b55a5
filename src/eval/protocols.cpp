#include "clipface/eval/protocols.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <set>

#include "clipface/calibration.hpp"
#include "clipface/errors.hpp"
#include "clipface/eval/clustering.hpp"
#include "clipface/eval/neighbours.hpp"
#include "clipface/eval/openset.hpp"
#include "clipface/eval/prompt_openset.hpp"
#include "clipface/eval/retrieval.hpp"
#include "clipface/eval/scale.hpp"
#include "clipface/eval/split.hpp"
#include "clipface/eval/verification.hpp"
#include "clipface/image.hpp"
#include "clipface/report.hpp"

namespace clipface::eval {
namespace fs = std::filesystem;

namespace {

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v);
  return buf;
}
std::string fixed(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}
std::string general(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// The embedded folder, limited to the first max_people people when asked.
std::vector<LabelledImage> labelled(const fs::path& dir, std::size_t max_people) {
  auto images = list_labelled_images(dir);
  if (max_people == 0) return images;
  std::set<std::string> kept;
  std::vector<LabelledImage> out;
  for (auto& image : images) {
    if (kept.size() < max_people || kept.count(image.person)) {
      kept.insert(image.person);
      out.push_back(std::move(image));
    }
  }
  return out;
}

// Every protocol's embedding step: records the images without an embedding in `out` for the CLI.
EmbeddedSet embed_for(const std::vector<LabelledImage>& images, const Embedder& embedder,
                      const Detector& detector, const ProtocolOptions& options,
                      ProtocolOutput& out) {
  EmbeddedSet set = embed_images(images, embedder, detector, options.embed);
  out.failures.insert(out.failures.end(), set.failures.begin(), set.failures.end());
  out.images += set.attempted();
  return set;
}

std::string failures_text(const EmbeddedSet& set) {
  std::string text = "images: " + std::to_string(set.attempted()) +
                     ", with a face: " + std::to_string(set.size()) + " (" +
                     pct(set.detection_rate()) +
                     "), without: " + std::to_string(set.failures.size()) +
                     "; embedded now: " + std::to_string(set.computed) +
                     ", from cache: " + std::to_string(set.cached) + "\n";
  const std::size_t shown = std::min<std::size_t>(set.failures.size(), 10);
  for (std::size_t i = 0; i < shown; ++i) {
    text += "  no embedding: " + set.failures[i].image.path.string() + " (" +
            set.failures[i].reason + ")\n";
  }
  if (set.failures.size() > shown) {
    text += "  ... and " + std::to_string(set.failures.size() - shown) + " more (see --json)\n";
  }
  return text;
}

nlohmann::json dataset_json(const EmbeddedSet& set) {
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& f : set.failures) {
    failures.push_back(
        {{"path", f.image.path.string()}, {"person", f.image.person}, {"reason", f.reason}});
  }
  return {{"images", set.attempted()},
          {"embedded", set.size()},
          {"detection_rate", set.detection_rate()},
          {"computed", set.computed},
          {"cached", set.cached},
          {"failures", failures}};
}

nlohmann::json embedder_json(const EmbedderInfo& info, const ProtocolOptions& options,
                             const Detector& detector) {
  return {{"spec", options.embedder_spec},
          {"name", info.name},
          {"checksum", info.checksum},
          {"crop_style", info.crop_style},
          {"dim", info.dim},
          {"random_weights", info.random_weights},
          {"flip_average", options.embedder.flip_average},
          {"detector", detector.name()},
          {"face_pick", to_string(options.embed.pick)}};
}

// ---- report pieces shared by the identification protocols -------------------------------------

struct ReportContext {
  const fs::path& dir;
  report::HtmlPage& page;
  const Embedder& embedder;
};

// Saves the embedder's crop of one image's chosen face; "" when the image cannot be read again.
std::string save_crop(const ReportContext& ctx, const EmbeddedSet& set, std::size_t row,
                      const std::string& name) {
  try {
    const cv::Mat image = load_image(set.images[row].path);
    auto crops = ctx.embedder.crops(image, {set.faces[row]});
    if (crops.empty()) return "";
    cv::Mat shown = crops[0];
    if (shown.cols < 150) cv::resize(shown, shown, {150, 150}, 0, 0, cv::INTER_CUBIC);
    fs::create_directories(ctx.dir / "crops");
    const std::string file = "crops/" + name + ".png";
    if (!cv::imwrite((ctx.dir / file).string(), shown)) return "";
    return file;
  } catch (const Error&) {
    return "";
  }
}

// truth: person id per query; predicted: person id or -1 (Unknown); rows: embedding row per query.
void identification_report(const ReportContext& ctx, const EmbeddedSet& set,
                           const std::vector<std::string>& names, const std::vector<int>& truth,
                           const std::vector<int>& predicted, const std::vector<std::size_t>& rows,
                           const std::vector<int>& labels) {
  const std::size_t people = names.size();
  std::vector<std::size_t> total(people, 0), right(people, 0);
  std::map<std::pair<int, int>, std::size_t> confused;
  std::map<std::pair<int, int>, std::size_t> example;  // (truth, predicted) -> a query row
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0) continue;
    ++total[static_cast<std::size_t>(truth[i])];
    if (predicted[i] == truth[i]) {
      ++right[static_cast<std::size_t>(truth[i])];
    } else if (predicted[i] >= 0) {
      ++confused[{truth[i], predicted[i]}];
      example.emplace(std::make_pair(truth[i], predicted[i]), rows[i]);
    }
  }

  // Per-class accuracy in the paper's groups.
  std::size_t groups[3] = {0, 0, 0};
  for (std::size_t p = 0; p < people; ++p) {
    if (!total[p]) continue;
    const double acc = double(right[p]) / double(total[p]);
    groups[acc < 0.5 ? 0 : acc < 0.75 ? 1 : 2] += 1;
  }
  ctx.page.heading("Per-person accuracy");
  report::draw(report::BarChart{"People by accuracy",
                                "accuracy group",
                                "people",
                                {"0-49%", "50-74%", "75-100%"},
                                {double(groups[0]), double(groups[1]), double(groups[2])}},
               ctx.dir / "per_class_accuracy.png");
  ctx.page.image("per_class_accuracy.png",
                 "people grouped by the share of their queries named right");
  ctx.page.table({"group", "people"}, {{"0-49%", std::to_string(groups[0])},
                                       {"50-74%", std::to_string(groups[1])},
                                       {"75-100%", std::to_string(groups[2])}});

  // Confusion heat map over the people that matter most (most errors, then most queries).
  std::vector<std::size_t> order;
  for (std::size_t p = 0; p < people; ++p)
    if (total[p]) order.push_back(p);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto ea = total[a] - right[a], eb = total[b] - right[b];
    return ea != eb ? ea > eb : total[a] > total[b];
  });
  if (order.size() > 25) order.resize(25);
  std::sort(order.begin(), order.end());
  report::HeatMap map;
  map.title = order.size() < people
                  ? "Confusion (the " + std::to_string(order.size()) + " people with most errors)"
                  : "Confusion matrix";
  for (std::size_t p : order) map.rows.push_back(names[p]);
  map.cols = map.rows;
  map.cols.push_back("Unknown");
  map.cols.push_back("others");
  map.values.assign(order.size(), std::vector<double>(map.cols.size(), 0));
  std::map<int, std::size_t> position;
  for (std::size_t i = 0; i < order.size(); ++i) position[static_cast<int>(order[i])] = i;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    auto r = position.find(truth[i]);
    if (r == position.end()) continue;
    std::size_t c = map.cols.size() - 1;
    if (predicted[i] < 0)
      c = map.cols.size() - 2;
    else if (auto it = position.find(predicted[i]); it != position.end())
      c = it->second;
    map.values[r->second][c] += 1;
  }
  ctx.page.heading("Confusion");
  report::draw(map, ctx.dir / "confusion.png");
  ctx.page.image("confusion.png", "rows: true person, columns: prediction (counts)");

  // Most confused pairs with example crops.
  std::vector<std::pair<std::size_t, std::pair<int, int>>> worst;
  for (const auto& [key, n] : confused) worst.push_back({n, key});
  std::sort(worst.begin(), worst.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  if (worst.size() > 6) worst.resize(6);
  ctx.page.heading("Most confused pairs");
  if (worst.empty()) ctx.page.paragraph("No person was mistaken for another.");
  std::vector<std::vector<std::string>> rows_text;
  for (std::size_t w = 0; w < worst.size(); ++w) {
    const auto [t, p] = worst[w].second;
    rows_text.push_back({names[t], names[p], std::to_string(worst[w].first)});
    const std::size_t query_row = example.at(worst[w].second);
    std::size_t other_row = query_row;
    for (std::size_t r = 0; r < labels.size(); ++r) {
      if (labels[r] == p) {
        other_row = r;
        break;
      }
    }
    std::vector<std::string> files;
    for (auto [row, tag] : {std::pair{query_row, "a"}, std::pair{other_row, "b"}}) {
      const auto file = save_crop(ctx, set, row, "confused" + std::to_string(w) + tag);
      if (!file.empty()) files.push_back(file);
    }
    if (!files.empty()) {
      ctx.page.images_side_by_side(files, names[t] + " (left) taken for " + names[p] + " (right)");
    }
  }
  if (!rows_text.empty()) ctx.page.table({"true person", "predicted", "times"}, rows_text);

  // PCA of the embeddings, coloured by the people with most images.
  std::vector<std::size_t> count(people, 0);
  for (int l : labels) ++count[static_cast<std::size_t>(l)];
  std::vector<std::size_t> by_count(people);
  for (std::size_t p = 0; p < people; ++p) by_count[p] = p;
  std::stable_sort(by_count.begin(), by_count.end(),
                   [&](std::size_t a, std::size_t b) { return count[a] > count[b]; });
  std::vector<int> group_of(people, -1);
  report::ScatterPlot scatter;
  scatter.title = "Embeddings, first two principal components";
  scatter.x_label = "PC 1";
  scatter.y_label = "PC 2";
  for (std::size_t g = 0; g < by_count.size(); ++g) {
    if (g < 20) group_of[by_count[g]] = static_cast<int>(g);
    scatter.group_names.push_back(names[by_count[g]]);
  }
  report::pca_2d(set.embeddings.data, set.embeddings.rows, set.embeddings.cols, scatter.x,
                 scatter.y);
  for (int l : labels) scatter.group.push_back(group_of[static_cast<std::size_t>(l)]);
  ctx.page.heading("Embedding space");
  report::draw(scatter, ctx.dir / "pca.png");
  ctx.page.image("pca.png", "2-D PCA of all embeddings; the 20 people with most images in colour");
}

// Precision-recall of "answer only when the score reaches t": precision = right / answered,
// recall = right / all queries.
report::Series pr_series(const std::string& name, const std::vector<float>& score,
                         const std::vector<bool>& right) {
  std::vector<std::size_t> order(score.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
  report::Series s{name, {}, {}};
  std::size_t answered = 0, good = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    ++answered;
    good += right[order[i]];
    if (i + 1 < order.size() && score[order[i + 1]] == score[order[i]]) continue;
    s.x.push_back(double(good) / double(score.size()));
    s.y.push_back(double(good) / double(answered));
  }
  return s;
}

void begin_report(report::HtmlPage& page, const std::string& warning, const EmbedderInfo& info,
                  const std::string& text) {
  if (!warning.empty()) page.warning(warning);
  page.paragraph("Embedder: " + info.name + " (crop " + info.crop_style + ", dim " +
                 std::to_string(info.dim) + ")");
  page.heading("Results");
  page.preformatted(text);
}

fs::path finish_report(const report::HtmlPage& page, const fs::path& dir) {
  const fs::path index = dir / "index.html";
  page.write(index);
  return index;
}

void make_report_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError("cannot create report folder '" + dir.string() + "': " + ec.message());
}

std::string with_warning(const std::string& warning, const std::string& text) {
  return warning.empty() ? text : "*** " + warning + " ***\n" + text + "*** " + warning + " ***\n";
}

KnnVote with_overrides(KnnVote rule, const ProtocolOptions& options) {
  if (options.k1) rule.k1 = *options.k1;
  if (options.k2)
    rule.k2 = *options.k2;
  else
    rule.k2 = std::max(rule.k2, rule.k1);
  if (options.threshold) rule.threshold = *options.threshold;
  validate(rule);
  return rule;
}

// ---- the protocols ------------------------------------------------------------------------------

ProtocolOutput run_retrieval(const fs::path& dir, const ProtocolOptions& options,
                             const Embedder& embedder, const Detector& detector) {
  ProtocolOutput out;
  const auto set = embed_for(labelled(dir, options.max_people), embedder, detector, options, out);
  std::vector<std::string> names;
  const auto labels = set.label_ids(&names);
  const auto r = evaluate_retrieval(set.embeddings, labels);
  out.json = to_json(r);
  out.text =
      failures_text(set) +
      format_table({"queries", "identities", "top-1", "top-5"},
                   {{std::to_string(r.queries) + " (all)", std::to_string(r.identities),
                     pct(r.top1), pct(r.top5)},
                    {std::to_string(r.multi_queries) + " (identities with 2+ images)",
                     std::to_string(r.multi_identities), pct(r.top1_multi), pct(r.top5_multi)}});
  out.summary = {{"top-1", pct(r.top1)},
                 {"top-5", pct(r.top5)},
                 {"top-1 (2+ images)", pct(r.top1_multi)},
                 {"top-5 (2+ images)", pct(r.top5_multi)},
                 {"face found", pct(set.detection_rate())}};
  out.json["dataset"] = dataset_json(set);
  if (!options.report_dir.empty()) {
    make_report_dir(options.report_dir);
    report::HtmlPage page("Retrieval: " + dir.filename().string());
    begin_report(page, random_weights_warning(set.info), set.info, out.text);
    std::vector<std::size_t> rows(labels.size());
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    // People with a single image cannot be found again: left out of the per-person views.
    std::vector<std::size_t> images_of(names.size(), 0);
    for (int l : labels) ++images_of[static_cast<std::size_t>(l)];
    std::vector<int> truth(labels);
    for (int& t : truth)
      if (images_of[static_cast<std::size_t>(t)] < 2) t = -1;
    page.paragraph(
        "Per-person views count the queries of people with 2+ images; the prediction "
        "is the person of the nearest other image.");
    ReportContext ctx{options.report_dir, page, embedder};
    identification_report(ctx, set, names, truth, r.top1_label, rows, labels);
    // Precision-recall when only answering for a close enough nearest neighbour.
    const auto table = search_exact(set.embeddings, set.embeddings, 2);
    std::vector<float> score;
    std::vector<bool> right;
    for (std::size_t q = 0; q < table.queries; ++q) {
      const std::size_t j = table.id(q, 0) == static_cast<long long>(q) ? 1 : 0;
      score.push_back(cosine_from_l2(table.distance(q, j)));
      right.push_back(r.top1_label[q] == labels[q]);
    }
    page.heading("Precision and recall");
    report::draw(report::LinePlot{"Top-1 precision-recall",
                                  "recall",
                                  "precision",
                                  {pr_series("nearest other image", score, right)},
                                  true},
                 options.report_dir / "precision_recall.png");
    page.image("precision_recall.png",
               "answering only when the nearest other image's cosine reaches a threshold");
    out.report = finish_report(page, options.report_dir);
  }
  return out;
}

ProtocolOutput run_grid(const fs::path& dir, const ProtocolOptions& options,
                        const Embedder& embedder, const Detector& detector) {
  ProtocolOutput out;
  const auto set = embed_for(labelled(dir, options.max_people), embedder, detector, options, out);
  std::vector<std::string> names;
  const auto labels = set.label_ids(&names);
  const Split split =
      split_per_person(labels, options.enroll_fraction, options.seed, options.unknown_fraction);
  const auto data = prepare_grid(set.embeddings, labels, names, split,
                                 static_cast<std::size_t>(options.grid.max_k()));
  const auto points = run_grid(data, options.grid);
  const GridPoint best = best_point(points);
  fs::create_directories(options.output_dir);
  const fs::path csv = options.output_dir / "grid_search_results.csv";
  write_grid_csv(csv, points, random_weights_warning(set.info));
  std::size_t strangers = 0;
  for (int t : data.truth) strangers += t < 0;
  out.json = {{"best", to_json(best)},
              {"points", points.size()},
              {"csv", csv.string()},
              {"enrolled_images", split.enrolled.size()},
              {"validation_images", split.validation.size()},
              {"enrolled_people", data.enrolled_people},
              {"validation_not_enrolled", strangers},
              {"seed", options.seed},
              {"enroll_fraction", options.enroll_fraction},
              {"dataset", dataset_json(set)}};
  out.text =
      failures_text(set) + "enrolled " + std::to_string(split.enrolled.size()) + " images of " +
      std::to_string(data.enrolled_people) + " people; " + std::to_string(split.validation.size()) +
      " validation queries (" + std::to_string(strangers) + " of people never enrolled); " +
      std::to_string(points.size()) + " grid points -> " + csv.string() + "\nbest (F1):\n" +
      format_table({"k1", "k2", "threshold", "precision", "recall", "f1", "tp", "fp", "tn", "fn"},
                   {{std::to_string(best.k1), std::to_string(best.k2), fixed(best.threshold, 2),
                     fixed(best.counts.precision(), 4), fixed(best.counts.recall(), 4),
                     fixed(best.counts.f1(), 4), std::to_string(best.counts.tp),
                     std::to_string(best.counts.fp), std::to_string(best.counts.tn),
                     std::to_string(best.counts.fn)}});
  out.summary = {{"best k1/k2/threshold", std::to_string(best.k1) + "/" + std::to_string(best.k2) +
                                              "/" + fixed(best.threshold, 2)},
                 {"precision", fixed(best.counts.precision(), 4)},
                 {"recall", fixed(best.counts.recall(), 4)},
                 {"f1", fixed(best.counts.f1(), 4)},
                 {"face found", pct(set.detection_rate())}};
  if (!options.report_dir.empty()) {
    make_report_dir(options.report_dir);
    report::HtmlPage page("Grid search: " + dir.filename().string());
    begin_report(page, random_weights_warning(set.info), set.info, out.text);
    page.paragraph("Counting: one-vs-rest over the enrolled people, summed (see grid.hpp).");
    // Precision-recall and F1 along the threshold for the best k1/k2.
    report::Series pr{"k1=" + std::to_string(best.k1) + ", k2=" + std::to_string(best.k2), {}, {}};
    report::Series f1{"F1", {}, {}}, precision{"precision", {}, {}}, recall{"recall", {}, {}};
    for (const auto& p : points) {
      if (p.k1 != best.k1 || p.k2 != best.k2) continue;
      if (p.counts.tp + p.counts.fp > 0) {
        pr.x.push_back(p.counts.recall());
        pr.y.push_back(p.counts.precision());
      }
      f1.x.push_back(p.threshold);
      f1.y.push_back(p.counts.f1());
      precision.x.push_back(p.threshold);
      precision.y.push_back(p.counts.precision());
      recall.x.push_back(p.threshold);
      recall.y.push_back(p.counts.recall());
    }
    report::draw(report::LinePlot{"Precision-recall over the threshold",
                                  "recall",
                                  "precision",
                                  {pr},
                                  true,
                                  false,
                                  false,
                                  true},
                 options.report_dir / "precision_recall.png");
    report::draw(report::LinePlot{"Scores along the L2 threshold",
                                  "threshold (L2 distance)",
                                  "score",
                                  {f1, precision, recall}},
                 options.report_dir / "threshold.png");
    page.heading("Threshold");
    page.image("precision_recall.png", "each point is one threshold of the best k1/k2");
    page.image("threshold.png", "F1, precision and recall as the threshold grows");
    // Per-person view of the best point (people never enrolled appear as truth -1: left out).
    const auto predicted = predict(data, KnnVote{best.k1, best.k2, best.threshold});
    std::vector<int> truth_all, pred_all;
    std::map<std::string, int> id_of;
    for (std::size_t i = 0; i < names.size(); ++i) id_of[names[i]] = static_cast<int>(i);
    for (std::size_t q = 0; q < data.queries; ++q) {
      truth_all.push_back(labels[split.validation[q]]);
      pred_all.push_back(
          predicted[q] < 0 ? -1 : id_of[data.people[static_cast<std::size_t>(predicted[q])]]);
    }
    ReportContext ctx{options.report_dir, page, embedder};
    identification_report(ctx, set, names, truth_all, pred_all, split.validation, labels);
    out.report = finish_report(page, options.report_dir);
  }
  return out;
}

// ---- open set: how each classifier is enrolled ------------------------------------------------

// What a classifier brings to the open-set protocol: the split it was enrolled on, itself, and a
// description of its enrolment (printed, in the JSON and the summary).
struct Enrolment {
  OpenSetSplit split;
  std::unique_ptr<IdentityClassifier> classifier;
  std::string text;      // who was enrolled with what
  std::string training;  // prompts: the fine-tuning, one line
  nlohmann::json json = nlohmann::json::object();
  std::vector<std::pair<std::string, std::string>> summary;
  std::vector<finetune::EpochStats> epochs;  // prompts: the training curve of the report
};

Enrolment enrol_knn(const EmbeddedSet& set, const std::vector<int>& labels,
                    const std::vector<std::string>& names, const ProtocolOptions& options) {
  Enrolment e;
  const int shots = options.shots.value_or(1);
  e.split = split_open_set(labels, options.known_fraction, shots, options.seed);
  std::vector<std::string> enrolled_names;
  for (std::size_t r : e.split.enrolled)
    enrolled_names.push_back(names[static_cast<std::size_t>(labels[r])]);
  e.classifier =
      std::make_unique<KnnClassifier>(select_rows(set.embeddings, e.split.enrolled), enrolled_names,
                                      with_overrides(options.openset_rule, options));
  e.text = std::to_string(e.split.known_people.size()) + " people enrolled with " +
           std::to_string(shots) + " shot(s)";
  e.json["shots"] = shots;
  return e;
}

// The prompt classifier trains on train_fraction of each known person's images, or on --shots.
OpenSetSplit prompt_split(const std::vector<int>& labels, const ProtocolOptions& options) {
  return options.shots
             ? split_open_set(labels, options.known_fraction, *options.shots, options.seed)
             : split_open_set_fraction(labels, options.known_fraction, options.train_fraction,
                                       options.seed);
}

std::string prompt_enrolment_text(const OpenSetSplit& split, const PromptData& data,
                                  const ProtocolOptions& options) {
  return std::to_string(split.known_people.size()) + " people enrolled with " +
         (options.shots ? std::to_string(*options.shots) + " training image(s) each"
                        : fixed(options.train_fraction, 2) + " of their images for training") +
         " (" + std::to_string(data.fit.train.size()) + " train, " +
         std::to_string(data.fit.validation.size()) + " validation for the best epoch)";
}

nlohmann::json enrolment_json(const OpenSetSplit& split, const PromptData& data,
                              const ProtocolOptions& options) {
  nlohmann::json j = {{"enrolled_people", split.known_people.size()},
                      {"training_images", split.enrolled.size()},
                      {"train_images", data.fit.train.size()},
                      {"validation_images", data.fit.validation.size()},
                      {"validation_fraction", options.validation_fraction}};
  if (options.shots)
    j["shots"] = *options.shots;
  else
    j["train_fraction"] = options.train_fraction;
  return j;
}

nlohmann::json known_names(const OpenSetSplit& split, const std::vector<std::string>& names) {
  nlohmann::json j = nlohmann::json::array();
  for (int person : split.known_people) j.push_back(names[static_cast<std::size_t>(person)]);
  return j;
}

// -1 (no validation image) prints as n/a.
std::string pct_or_na(double v) {
  return v < 0 ? "n/a" : pct(v);
}

nlohmann::json training_json(const finetune::TrainOptions& o, const finetune::TrainReport& r) {
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : r.epochs) {
    epochs.push_back({{"epoch", e.epoch},
                      {"loss", e.loss},
                      {"train_accuracy", e.train_accuracy},
                      {"validation_accuracy", e.validation_accuracy}});
  }
  return {{"template", o.prompt_template},
          {"loss", finetune::to_string(o.loss)},
          {"epochs", o.epochs},
          {"learning_rate", o.learning_rate},
          {"batch_size", o.batch_size},
          {"weight_decay", o.weight_decay},
          {"train_accuracy", r.train_accuracy},
          {"validation_accuracy", r.validation_accuracy},
          {"zero_shot_validation_accuracy", r.initial_validation_accuracy},
          {"best_epoch", r.best_epoch},
          {"steps", r.steps},
          {"seconds_per_step", r.seconds_per_step},
          {"per_epoch", epochs}};
}

Enrolment enrol_prompts(ClipModel& model, const EmbeddedSet& set, const std::vector<int>& labels,
                        const std::vector<std::string>& names, const ProtocolOptions& options) {
  Enrolment e;
  e.split = prompt_split(labels, options);
  const PromptData data = prompt_data(set.embeddings, labels, names, e.split, set.info,
                                      options.seed, options.validation_fraction);
  finetune::TrainOptions training = options.training;
  training.progress = options.embed.progress;
  const auto report = finetune::train_prompts(model, data.training, data.fit, training);
  e.classifier = std::make_unique<PromptIdentityClassifier>(
      finetune::PromptClassifier::from_training(report, data.training, training));
  e.text = prompt_enrolment_text(e.split, data, options);
  e.training = "fine-tuned text tower: " + std::to_string(training.epochs) +
               " epoch(s), learning rate " + general(training.learning_rate) + "; kept epoch " +
               std::to_string(report.best_epoch) + ": training accuracy " +
               pct(report.train_accuracy) + ", validation accuracy " +
               pct_or_na(report.validation_accuracy) + " (zero-shot " +
               pct_or_na(report.initial_validation_accuracy) + ")";
  e.json = enrolment_json(e.split, data, options);
  e.json["training"] = training_json(training, report);
  e.summary = {{"training accuracy", pct(report.train_accuracy)},
               {"validation accuracy", pct_or_na(report.validation_accuracy)},
               {"best epoch", std::to_string(report.best_epoch)}};
  e.epochs = report.epochs;
  return e;
}

// The gallery vote calibrated (clipface calibrate's way) on the enrolled faces and the strangers
// of half of the never-enrolled people, then scored on probes that took no part: the genuine
// probes and the other half's faces.
struct CalibratedPoint {
  nlohmann::json json;
  std::string text;
};
CalibratedPoint calibrated_point(const EmbeddedSet& set, const std::vector<int>& labels,
                                 const std::vector<std::string>& names, const OpenSetSplit& split,
                                 const ProtocolOptions& options) {
  CalibrationData data;
  data.labelled = select_rows(set.embeddings, split.enrolled);
  for (std::size_t r : split.enrolled) {
    data.people.push_back(names[static_cast<std::size_t>(labels[r])]);
    data.images.push_back(set.images[r].path.string());
  }
  std::vector<int> strangers;
  for (std::size_t r : split.impostor) strangers.push_back(labels[r]);
  std::sort(strangers.begin(), strangers.end());
  strangers.erase(std::unique(strangers.begin(), strangers.end()), strangers.end());
  SeededRandom random(options.seed + 17);
  random.shuffle(strangers);
  const std::set<int> calibrating(strangers.begin(), strangers.begin() + strangers.size() / 2);
  std::vector<std::size_t> calibration_rows, held_out_rows;
  for (std::size_t r : split.impostor) {
    (calibrating.count(labels[r]) ? calibration_rows : held_out_rows).push_back(r);
  }
  data.strangers = select_rows(set.embeddings, calibration_rows);
  data.stranger_sources.assign(calibration_rows.size(), "never-enrolled people");
  CalibratedPoint out;
  CalibrationOptions o;
  o.target_far = options.calibrate_far;
  o.seed = options.seed;
  CalibrationResult c;
  try {
    c = calibrate(data, o, with_overrides(default_vote(set.info), options));
  } catch (const InputError& e) {
    out.text = "calibrated point: not measured (" + std::string(e.what()) + ")";
    out.json = {{"target_far", o.target_far}, {"error", e.what()}};
    return out;
  }
  std::vector<std::size_t> probe_rows = split.genuine;
  probe_rows.insert(probe_rows.end(), held_out_rows.begin(), held_out_rows.end());
  std::vector<std::string> truth;
  for (std::size_t r : split.genuine) truth.push_back(names[static_cast<std::size_t>(labels[r])]);
  truth.resize(probe_rows.size());
  const RateAt held = held_out_rates(data, select_rows(set.embeddings, probe_rows), truth, c.rule);
  out.json = {
      {"target_far", o.target_far},
      {"rule", {{"k1", c.rule.k1}, {"k2", c.rule.k2}, {"threshold", c.rule.threshold}}},
      {"person_thresholds", c.rule.person_thresholds.size()},
      {"calibration",
       {{"far", c.far}, {"frr", c.frr}, {"impostors", c.impostors}, {"genuine", c.genuine}}},
      {"held_out",
       {{"far", held.far},
        {"frr", held.frr},
        {"impostors", held.impostors},
        {"genuine", held.genuine}}}};
  out.text = "calibrated point (gallery vote k1=" + std::to_string(c.rule.k1) +
             " k2=" + std::to_string(c.rule.k2) + ", threshold " + fixed(c.rule.threshold, 3) +
             " for FAR " + general(o.target_far) + ", set on the enrolled faces and " +
             std::to_string(calibration_rows.size()) + " faces of half the strangers): FAR " +
             pct(held.far) + " on " + std::to_string(held.impostors) +
             " held-out impostor probes, FRR " + pct(held.frr) + " on " +
             std::to_string(held.genuine) + " genuine probes";
  return out;
}

std::string at_threshold_text(const OpenSetPoint& at) {
  return "accuracy " + pct(at.accuracy) + ", FPR " + pct(at.fpr) + ", FNR " + pct(at.fnr) +
         " (misidentified " + std::to_string(at.genuine_misidentified) + " = " +
         pct(at.misidentification) + ")";
}

void draw_training_curve(const std::vector<finetune::EpochStats>& epochs, report::HtmlPage& page,
                         const fs::path& dir) {
  report::Series train{"training accuracy", {}, {}}, val{"validation accuracy", {}, {}};
  for (const auto& e : epochs) {
    train.x.push_back(e.epoch), train.y.push_back(e.train_accuracy);
    if (e.validation_accuracy >= 0)
      val.x.push_back(e.epoch), val.y.push_back(e.validation_accuracy);
  }
  report::draw(
      report::LinePlot{"Fine-tuning", "epoch", "accuracy", {train, val}, false, false, false, true},
      dir / "training.png");
  page.heading("Fine-tuning");
  page.image("training.png", "closed-set accuracy of the training and validation images per epoch");
}

ProtocolOutput run_openset(const fs::path& dir, const ProtocolOptions& options,
                           const Embedder& embedder, const Detector& detector) {
  ProtocolOutput out;
  // Before embedding, so a spec that does not match the embedder fails before the work; shared
  // with a CLIP embedder (one copy of the weights).
  std::shared_ptr<ClipModel> model;
  if (options.classifier == "prompts") {
    model = clip_model_for(options.embedder_spec, embedder, options.embedder.runtime);
  }
  const auto set = embed_for(labelled(dir, options.max_people), embedder, detector, options, out);
  std::vector<std::string> names;
  const auto labels = set.label_ids(&names);
  const Enrolment enrolment = model ? enrol_prompts(*model, set, labels, names, options)
                                    : enrol_knn(set, labels, names, options);
  const OpenSetSplit& split = enrolment.split;
  const IdentityClassifier& classifier = *enrolment.classifier;
  std::vector<std::size_t> probes = split.genuine;
  probes.insert(probes.end(), split.impostor.begin(), split.impostor.end());
  std::vector<std::string> truth;
  for (std::size_t r : split.genuine) truth.push_back(names[static_cast<std::size_t>(labels[r])]);
  truth.resize(probes.size());  // impostors: ""
  const auto predictions = classifier.predict(select_rows(set.embeddings, probes));
  const auto at = evaluate_open_set(predictions, truth, options.confidence_threshold);
  const auto curve = open_set_curve(predictions, truth);
  std::size_t best = 0;
  for (std::size_t i = 1; i < curve.size(); ++i) {
    if (curve[i].accuracy > curve[best].accuracy) best = i;
  }
  nlohmann::json curve_json = nlohmann::json::array();
  for (const auto& p : curve) curve_json.push_back(to_json(p));
  out.json = {{"classifier", classifier.name()},
              {"classifier_kind", options.classifier},
              {"confidence", classifier.confidence_meaning()},
              {"definitions", kOpenSetDefinitions},
              {"enrolled_people", split.known_people.size()},
              {"known_people", known_names(split, names)},
              {"seed", options.seed},
              {"at_threshold", to_json(at)},
              {"best_accuracy", to_json(curve[best])},
              {"curve", curve_json},
              {"dataset", dataset_json(set)}};
  out.json.update(enrolment.json);
  std::string calibrated;
  if (!model) {
    const CalibratedPoint point = calibrated_point(set, labels, names, split, options);
    out.json["calibrated"] = point.json;
    calibrated = point.text + "\n";
    if (point.json.contains("held_out")) {
      out.summary.push_back({"FAR@calibrated", pct(point.json["held_out"]["far"].get<double>())});
      out.summary.push_back({"FRR@calibrated", pct(point.json["held_out"]["frr"].get<double>())});
    }
  }
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < curve.size(); ++i) {
    const auto& p = curve[i];
    const int t = static_cast<int>(std::lround(p.threshold * 100));
    // Every 0.10, the chosen threshold, and the most accurate one (the full curve is in --json).
    if (t % 10 == 0 || i == best || std::abs(p.threshold - options.confidence_threshold) < 1e-6) {
      rows.push_back({fixed(p.threshold, 2), pct(p.accuracy), pct(p.fpr), pct(p.fnr),
                      std::to_string(p.genuine_misidentified)});
    }
  }
  out.text = failures_text(set) + "classifier: " + classifier.name() +
             "\nconfidence: " + classifier.confidence_meaning() + "\n" + enrolment.text + "; " +
             std::to_string(split.genuine.size()) + " genuine probes, " +
             std::to_string(split.impostor.size()) + " impostor probes\n" +
             (enrolment.training.empty() ? "" : enrolment.training + "\n") +
             "definitions: " + kOpenSetDefinitions + "\nat threshold " +
             fixed(options.confidence_threshold, 2) + ": " + at_threshold_text(at) +
             "\nmost accurate threshold: " + fixed(curve[best].threshold, 2) + " (accuracy " +
             pct(curve[best].accuracy) + ")\n" + calibrated +
             format_table({"threshold", "accuracy", "FPR", "FNR", "misidentified"}, rows);
  const auto calibrated_summary = out.summary;
  out.summary = {{"accuracy@" + fixed(options.confidence_threshold, 2), pct(at.accuracy)},
                 {"FPR@" + fixed(options.confidence_threshold, 2), pct(at.fpr)},
                 {"FNR@" + fixed(options.confidence_threshold, 2), pct(at.fnr)}};
  out.summary.insert(out.summary.end(), calibrated_summary.begin(), calibrated_summary.end());
  out.summary.insert(out.summary.end(), enrolment.summary.begin(), enrolment.summary.end());
  out.summary.push_back({"face found", pct(set.detection_rate())});
  if (!options.report_dir.empty()) {
    make_report_dir(options.report_dir);
    report::HtmlPage page("Open-set deployment: " + dir.filename().string());
    begin_report(page, random_weights_warning(set.info), set.info, out.text);
    report::Series acc{"accuracy", {}, {}}, fpr{"FPR", {}, {}}, fnr{"FNR", {}, {}};
    report::Series roc{"open-set ROC", {}, {}};
    for (const auto& p : curve) {
      acc.x.push_back(p.threshold), acc.y.push_back(p.accuracy);
      fpr.x.push_back(p.threshold), fpr.y.push_back(p.fpr);
      fnr.x.push_back(p.threshold), fnr.y.push_back(p.fnr);
      roc.x.push_back(p.fpr), roc.y.push_back(1 - p.fnr);
    }
    report::draw(report::LinePlot{"Open-set metrics over the confidence threshold",
                                  "confidence threshold",
                                  "rate",
                                  {acc, fpr, fnr},
                                  true},
                 options.report_dir / "openset_curve.png");
    report::draw(report::LinePlot{"Open-set ROC",
                                  "FPR (impostors accepted)",
                                  "1 - FNR (genuine named right)",
                                  {roc},
                                  true,
                                  false,
                                  true},
                 options.report_dir / "roc.png");
    page.heading("Curves");
    page.image("openset_curve.png", "accuracy, FPR and FNR as the confidence threshold grows");
    page.image("roc.png", "each point is one confidence threshold");
    if (!enrolment.epochs.empty()) draw_training_curve(enrolment.epochs, page, options.report_dir);
    std::map<std::string, int> id_of;
    for (std::size_t i = 0; i < names.size(); ++i) id_of[names[i]] = static_cast<int>(i);
    std::vector<int> truth_ids, pred_ids;
    for (std::size_t i = 0; i < probes.size(); ++i) {
      truth_ids.push_back(labels[probes[i]]);
      const bool accepted = predictions[i].label != kUnknown &&
                            predictions[i].confidence >= options.confidence_threshold;
      pred_ids.push_back(accepted ? id_of[predictions[i].label] : -1);
    }
    ReportContext ctx{options.report_dir, page, embedder};
    identification_report(ctx, set, names, truth_ids, pred_ids, probes, labels);
    out.report = finish_report(page, options.report_dir);
  }
  return out;
}

// ---- prompts: the template x loss study on the open-set split -----------------------------------

std::vector<finetune::TrainOptions> prompt_variants(const ProtocolOptions& options) {
  const auto& templates = options.templates.empty() ? finetune::kStudyTemplates : options.templates;
  const std::vector<finetune::Loss> losses =
      options.losses.empty() ? std::vector<finetune::Loss>{options.training.loss} : options.losses;
  std::vector<finetune::TrainOptions> variants;
  for (const auto& t : templates) {
    for (const auto loss : losses) {
      finetune::TrainOptions o = options.training;
      o.prompt_template = t;
      o.loss = loss;
      o.progress = options.embed.progress;
      finetune::validate(o);
      variants.push_back(std::move(o));
    }
  }
  return variants;
}

ProtocolOutput run_prompts(const fs::path& dir, const ProtocolOptions& options,
                           const Embedder& embedder, const Detector& detector) {
  ProtocolOutput out;
  const auto variants = prompt_variants(options);
  const std::shared_ptr<ClipModel> model =
      clip_model_for(options.embedder_spec, embedder, options.embedder.runtime);
  const auto set = embed_for(labelled(dir, options.max_people), embedder, detector, options, out);
  std::vector<std::string> names;
  const auto labels = set.label_ids(&names);
  const OpenSetSplit split = prompt_split(labels, options);
  const PromptData data = prompt_data(set.embeddings, labels, names, split, set.info, options.seed,
                                      options.validation_fraction);
  const auto study = finetune::run_study(*model, data.training, data.fit, variants, &data.probes,
                                         options.confidence_threshold);
  const std::string at = "@" + fixed(options.confidence_threshold, 2);
  nlohmann::json rows_json = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : study) {
    const OpenSetPoint& p = row.open_set->point;
    const std::string loss = finetune::to_string(row.options.loss);
    nlohmann::json j = training_json(row.options, row.report);
    j["open_set"] = to_json(p);
    j["closed_set_accuracy"] = row.open_set->closed_set_accuracy;
    rows_json.push_back(std::move(j));
    rows.push_back({"\"" + row.options.prompt_template + "\"", loss,
                    pct_or_na(row.report.initial_validation_accuracy),
                    pct(row.report.train_accuracy), pct_or_na(row.report.validation_accuracy),
                    std::to_string(row.report.best_epoch), pct(p.accuracy), pct(p.fpr), pct(p.fnr),
                    std::to_string(p.genuine_misidentified)});
    out.summary.push_back(
        {"\"" + row.options.prompt_template + "\" " + loss + " accuracy" + at, pct(p.accuracy)});
  }
  out.summary.push_back({"face found", pct(set.detection_rate())});
  out.json = {{"definitions", kOpenSetDefinitions},
              {"confidence", kPromptConfidenceMeaning},
              {"threshold", options.confidence_threshold},
              {"seed", options.seed},
              {"known_people", known_names(split, names)},
              {"genuine", split.genuine.size()},
              {"impostor", split.impostor.size()},
              {"rows", rows_json},
              {"dataset", dataset_json(set)}};
  out.json.update(enrolment_json(split, data, options));
  out.text = failures_text(set) + prompt_enrolment_text(split, data, options) + "; " +
             std::to_string(split.genuine.size()) + " genuine probes, " +
             std::to_string(split.impostor.size()) +
             " impostor probes\nevery row fine-tunes the same base on the same split; "
             "zero-shot/train/val = closed-set accuracy, the rest is open set at threshold " +
             fixed(options.confidence_threshold, 2) + "\ndefinitions: " + kOpenSetDefinitions +
             "\n" +
             format_table({"template", "loss", "zero-shot", "train", "val", "best epoch",
                           "accuracy", "FPR", "FNR", "misidentified"},
                          rows);
  if (!options.report_dir.empty()) {
    make_report_dir(options.report_dir);
    report::HtmlPage page("Prompt study: " + dir.filename().string());
    begin_report(page, random_weights_warning(set.info), set.info, out.text);
    out.report = finish_report(page, options.report_dir);
  }
  return out;
}

fs::path find_train_pairs(const ProtocolOptions& options) {
  if (!options.train_pairs.empty()) return options.train_pairs;
  std::string name = options.pairs.filename().string();
  if (auto at = name.find("Test"); at != std::string::npos) {
    name.replace(at, 4, "Train");
    const fs::path sibling = options.pairs.parent_path() / name;
    if (fs::exists(sibling)) return sibling;
  }
  throw InputError("'" + options.pairs.string() +
                   "' is a View 1 pairs file: give the file to choose the threshold on with "
                   "--train-pairs (e.g. pairsDevTrain.txt)");
}

// The first n/2 same-person and the first n/2 different-person pairs (View 1 files list all
// same pairs first, so a plain prefix would hold one kind only).
PairsFile first_pairs(PairsFile file, std::size_t n) {
  if (n && file.pairs.size() > n) {
    if (file.view2)
      throw InputError("--max-pairs cannot cut a View 2 file (its folds need all pairs)");
    std::vector<FacePair> kept;
    std::size_t same = 0, different = 0;
    for (auto& p : file.pairs) {
      std::size_t& taken = p.same ? same : different;
      if (taken < (p.same ? (n + 1) / 2 : n / 2)) {
        ++taken;
        kept.push_back(std::move(p));
      }
    }
    file.pairs = std::move(kept);
  }
  return file;
}

ProtocolOutput run_verify(const fs::path& dir, const ProtocolOptions& options,
                          const Embedder& embedder, const Detector& detector) {
  if (options.pairs.empty()) throw InputError("verify needs --pairs FILE");
  ProtocolOutput out;
  const PairsFile test = first_pairs(read_pairs(options.pairs), options.max_pairs);
  PairsFile train;
  if (!test.view2) train = first_pairs(read_pairs(find_train_pairs(options)), options.max_pairs);
  // Every image once, in a stable order.
  std::map<fs::path, std::string> unique;
  for (const PairsFile* file :
       {static_cast<const PairsFile*>(&train), static_cast<const PairsFile*>(&test)}) {
    for (const auto& p : file->pairs) {
      unique.emplace(lfw_image_path(dir, p.name_a, p.index_a), p.name_a);
      unique.emplace(lfw_image_path(dir, p.name_b, p.index_b), p.name_b);
    }
  }
  std::vector<LabelledImage> images;
  for (const auto& [path, person] : unique) images.push_back({path, person});
  const auto set = embed_for(images, embedder, detector, options, out);
  std::map<fs::path, std::size_t> row_of;
  for (std::size_t r = 0; r < set.images.size(); ++r) row_of[set.images[r].path] = r;
  auto scores_of = [&](const PairsFile& file) {
    std::vector<float> scores;
    for (const auto& p : file.pairs) {
      auto a = row_of.find(lfw_image_path(dir, p.name_a, p.index_a));
      auto b = row_of.find(lfw_image_path(dir, p.name_b, p.index_b));
      scores.push_back(a == row_of.end() || b == row_of.end()
                           ? kMissingScore
                           : dot(set.embeddings.row(a->second), set.embeddings.row(b->second)));
    }
    return scores;
  };
  const auto test_scores = scores_of(test);
  VerificationResult r;
  std::vector<float> train_scores;
  if (test.view2) {
    r = verify_folds(test, test_scores);
  } else {
    train_scores = scores_of(train);
    r = verify_train_test(train, train_scores, test, test_scores);
  }
  out.json = to_json(r);
  out.json["dataset"] = dataset_json(set);
  out.json["pairs_file"] = options.pairs.string();
  std::vector<std::vector<std::string>> rows;
  if (r.view2) {
    rows.push_back({"View 2, " + std::to_string(r.fold_accuracy.size()) + " folds",
                    std::to_string(r.pairs), pct(r.accuracy) + " +- " + pct(r.accuracy_std),
                    fixed(r.auc, 4), pct(r.tar_at_far_1e3), fixed(r.threshold, 3)});
  } else {
    rows.push_back({"View 1 test (threshold from train)", std::to_string(r.pairs), pct(r.accuracy),
                    fixed(r.auc, 4), pct(r.tar_at_far_1e3), fixed(r.threshold, 3)});
  }
  out.text =
      failures_text(set) + "pairs with a missing face: " + std::to_string(r.missing_pairs) +
      " (decided 'different')\n" +
      (r.view2 ? "" : "train accuracy at that threshold: " + pct(r.train_accuracy) + "\n") +
      format_table(
          {"protocol", "pairs", "accuracy", "ROC AUC", "TAR@FAR=1e-3", "threshold (cosine)"}, rows);
  out.summary = {
      {"accuracy", r.view2 ? pct(r.accuracy) + " +- " + pct(r.accuracy_std) : pct(r.accuracy)},
      {"ROC AUC", fixed(r.auc, 4)},
      {"TAR@FAR=1e-3", pct(r.tar_at_far_1e3)},
      {"face found", pct(set.detection_rate())}};
  if (!options.report_dir.empty()) {
    make_report_dir(options.report_dir);
    report::HtmlPage page("Verification: " + options.pairs.filename().string());
    begin_report(page, random_weights_warning(set.info), set.info, out.text);
    std::vector<bool> same;
    for (const auto& p : test.pairs) same.push_back(p.same);
    const auto roc = roc_curve(test_scores, same);
    report::Series lin{"ROC (AUC " + fixed(r.auc, 4) + ")", {}, {}}, logx = lin;
    for (const auto& p : roc) {
      lin.x.push_back(p.far), lin.y.push_back(p.tar);
      logx.x.push_back(p.far), logx.y.push_back(p.tar);
    }
    report::draw(
        report::LinePlot{"ROC", "false accept rate", "true accept rate", {lin}, true, false, true},
        options.report_dir / "roc.png");
    report::draw(
        report::LinePlot{
            "ROC, log FAR", "false accept rate (log)", "true accept rate", {logx}, true, true},
        options.report_dir / "roc_log.png");
    std::vector<bool> right(same.begin(), same.end());
    report::draw(report::LinePlot{"Precision-recall of 'same person'",
                                  "recall",
                                  "precision",
                                  {pr_series("same-person pairs", test_scores, right)},
                                  true},
                 options.report_dir / "precision_recall.png");
    page.heading("Curves");
    page.image("roc.png", "ROC over the evaluated pairs");
    page.image("roc_log.png", "the same, FAR on a log scale");
    page.image("precision_recall.png", "pairs called 'same' when the cosine reaches a threshold");
    out.report = finish_report(page, options.report_dir);
  }
  return out;
}

ProtocolOutput run_scale(const fs::path& dir, const ProtocolOptions& options,
                         const Embedder& embedder, const Detector& detector) {
  ProtocolOutput out;
  const auto set = embed_for(labelled(dir, options.max_people), embedder, detector, options, out);
  const KnnVote rule = with_overrides(default_vote(set.info), options);
  std::vector<std::string> names;
  set.label_ids(&names);
  const auto counts =
      options.people_counts.empty() ? default_people_counts(names.size()) : options.people_counts;
  const auto points = evaluate_scale(set, counts, rule, options.enroll_fraction, options.seed);
  nlohmann::json list = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : points) {
    list.push_back(to_json(p));
    rows.push_back({std::to_string(p.people), std::to_string(p.images), fixed(p.embed_seconds, 2),
                    fixed(p.index_seconds * 1000, 3), pct(p.top1), pct(p.top5),
                    fixed(p.identify_f1, 4), pct(p.identify_accuracy)});
  }
  out.json = {{"points", list},
              {"rule", {{"k1", rule.k1}, {"k2", rule.k2}, {"threshold", rule.threshold}}},
              {"seed", options.seed},
              {"dataset", dataset_json(set)}};
  out.text = failures_text(set) + "identify rule: k1=" + std::to_string(rule.k1) +
             " k2=" + std::to_string(rule.k2) + " threshold=" + fixed(rule.threshold, 2) + "\n" +
             format_table({"people", "images", "embed s", "index ms", "top-1", "top-5",
                           "identify F1", "identify acc"},
                          rows);
  const auto& last = points.back();
  out.summary = {{"people", std::to_string(last.people)},
                 {"load s", fixed(last.embed_seconds + last.index_seconds, 2)},
                 {"top-1", pct(last.top1)},
                 {"identify F1", fixed(last.identify_f1, 4)}};
  if (!options.report_dir.empty()) {
    make_report_dir(options.report_dir);
    report::HtmlPage page("Scalability: " + dir.filename().string());
    begin_report(page, random_weights_warning(set.info), set.info, out.text);
    report::Series load{"embedding + indexing", {}, {}}, top1{"retrieval top-1", {}, {}},
        f1{"identify F1", {}, {}}, acc{"identify accuracy", {}, {}};
    for (const auto& p : points) {
      const double n = double(p.people);
      load.x.push_back(n), load.y.push_back(p.embed_seconds + p.index_seconds);
      top1.x.push_back(n), top1.y.push_back(p.top1);
      f1.x.push_back(n), f1.y.push_back(p.identify_f1);
      acc.x.push_back(n), acc.y.push_back(p.identify_accuracy);
    }
    report::draw(
        report::LinePlot{"Load time", "people", "seconds", {load}, false, false, false, true},
        options.report_dir / "scale_time.png");
    report::draw(report::LinePlot{"Metrics as people are added",
                                  "people",
                                  "score",
                                  {top1, f1, acc},
                                  false,
                                  false,
                                  false,
                                  true},
                 options.report_dir / "scale_metrics.png");
    page.heading("Plots");
    page.image("scale_time.png",
               "detection + embedding time (as measured when computed) + index build");
    page.image("scale_metrics.png", "retrieval top-1 and identification with the rule above");
    out.report = finish_report(page, options.report_dir);
  }
  return out;
}

std::vector<std::string> cluster_row(const ClusterScores& s) {
  return {s.method,           fixed(s.radius, 4),        std::to_string(s.clusters),
          pct(s.noise_share), fixed(s.pair_precision),   fixed(s.pair_recall),
          fixed(s.pair_f1),   fixed(s.bcubed_precision), fixed(s.bcubed_recall),
          fixed(s.bcubed_f1), fixed(s.seconds, 2)};
}

nlohmann::json to_json(const ClusterScores& s) {
  return {
      {"method", s.method},
      {"radius", s.radius},
      {"faces", s.faces},
      {"people", s.people},
      {"people_clusterable", s.people_clusterable},
      {"clusters", s.clusters},
      {"noise", s.noise},
      {"noise_share", s.noise_share},
      {"pairwise", {{"precision", s.pair_precision}, {"recall", s.pair_recall}, {"f1", s.pair_f1}}},
      {"bcubed",
       {{"precision", s.bcubed_precision}, {"recall", s.bcubed_recall}, {"f1", s.bcubed_f1}}},
      {"seconds", s.seconds}};
}

ProtocolOutput run_cluster(const fs::path& dir, const ProtocolOptions& options,
                           const Embedder& embedder, const Detector& detector) {
  ProtocolOutput out;
  const auto set =
      embed_images(labelled(dir, options.max_people), embedder, detector, options.embed);
  if (set.size() == 0) throw InputError("eval cluster: no face found in " + dir.string());
  ClusterOptions ours = options.cluster;
  const float same_person = cluster_radius_for(with_overrides(default_vote(set.info), options));
  if (ours.radius <= 0) ours.radius = same_person;
  if (ours.link_radius <= 0) ours.link_radius = same_person;
  const bool dlib = set.info.name.rfind("dlib", 0) == 0;
  const auto truth = set.label_ids();
  const ClusterComparison c = compare_clusterings(set.embeddings, truth, ours, dlib);
  const std::vector<std::string> header = {"method",   "radius",    "clusters", "noise",
                                           "pair P",   "pair R",    "pair F1",  "BCubed P",
                                           "BCubed R", "BCubed F1", "seconds"};
  std::vector<std::vector<std::string>> runs, matched, sweep;
  nlohmann::json runs_json = nlohmann::json::array(), sweep_json = nlohmann::json::array(),
                 matched_json = nlohmann::json::array();
  for (const auto& s : c.runs) runs.push_back(cluster_row(s)), runs_json.push_back(to_json(s));
  for (const auto& s : c.matched) {
    matched.push_back(cluster_row(s));
    matched.back()[10] = "-";
    matched_json.push_back(to_json(s));
  }
  for (const auto& s : c.sweep) sweep.push_back(cluster_row(s)), sweep_json.push_back(to_json(s));
  const ClusterScores& first = c.runs[0];
  out.text = failures_text(set) + "faces: " + std::to_string(first.faces) + " of " +
             std::to_string(first.people) + " people (" + std::to_string(first.people_clusterable) +
             " with at least " + std::to_string(ours.min_faces) + " faces); clipface: radius " +
             fixed(ours.radius, 4) + ", link radius " + fixed(ours.link_radius, 4) +
             ", min faces " + std::to_string(ours.min_faces) + "\n\n" +
             "Each method at its defaults:\n" + format_table(header, runs) +
             "\nThe peers at clipface's noise share under the same rule (interpolated over "
             "their radius sweep):\n" +
             format_table(header, matched) + "\nRadius sweep:\n" + format_table(header, sweep);
  out.json = {
      {"runs", runs_json},
      {"matched", matched_json},
      {"sweep", sweep_json},
      {"clipface",
       {{"radius", ours.radius}, {"link_radius", ours.link_radius}, {"min_faces", ours.min_faces}}},
      {"dataset", dataset_json(set)}};
  out.summary = {{"BCubed F1", fixed(first.bcubed_f1)},
                 {"pairwise F1", fixed(first.pair_f1)},
                 {"noise", pct(first.noise_share)},
                 {"clusters", std::to_string(first.clusters)}};
  if (!options.report_dir.empty()) {
    make_report_dir(options.report_dir);
    report::HtmlPage page("Clustering: " + dir.filename().string());
    begin_report(page, random_weights_warning(set.info), set.info, out.text);
    std::map<std::string, report::Series> curves;
    for (const auto& s : c.sweep) {
      auto& series = curves[s.method];
      series.name = s.method;
      series.x.push_back(s.noise_share);
      series.y.push_back(s.bcubed_f1);
    }
    report::LinePlot plot{"BCubed F1 against the share of faces left as noise",
                          "noise share",
                          "BCubed F1",
                          {},
                          false,
                          false,
                          false,
                          true};
    for (auto& [name, series] : curves) plot.series.push_back(series);
    report::draw(plot, options.report_dir / "cluster_f1_noise.png");
    page.heading("Plots");
    page.image("cluster_f1_noise.png",
               "each method swept over its radius; higher is better at the same noise share");
    out.report = finish_report(page, options.report_dir);
  }
  return out;
}

}  // namespace

const std::vector<std::string>& protocol_names() {
  static const std::vector<std::string> names = {"retrieval", "grid",    "openset", "verify",
                                                 "scale",     "prompts", "cluster"};
  return names;
}

void check_options(const std::string& protocol, const ProtocolOptions& options) {
  const auto& names = protocol_names();
  if (std::find(names.begin(), names.end(), protocol) == names.end()) {
    std::string expected;  // "a, b, ... or z", from the list itself
    for (std::size_t i = 0; i < names.size(); ++i) {
      expected += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    }
    throw InputError("unknown protocol '" + protocol + "' (expected " + expected + ")");
  }
  if (options.classifier != "knn" && options.classifier != "prompts") {
    throw InputError("unknown classifier '" + options.classifier + "' (expected knn or prompts)");
  }
  if (protocol == "prompts" || (protocol == "openset" && options.classifier == "prompts")) {
    require_clip_spec(options.embedder_spec,
                      protocol == "prompts" ? "eval prompts" : "--classifier prompts");
    if (protocol == "prompts") {
      prompt_variants(options);  // validates every template and option
    } else {
      finetune::validate(options.training);
    }
  }
}

ProtocolOutput run_protocol(const std::string& protocol, const fs::path& dir,
                            const ProtocolOptions& options) {
  check_options(protocol, options);
  EmbedderOptions embedder_options = options.embedder;
  const auto embedder = make_embedder(options.embedder_spec, embedder_options);
  const auto detector = make_detector(options.embed.detector);
  return run_protocol(protocol, dir, options, *embedder, *detector);
}

ProtocolOutput run_protocol(const std::string& protocol, const fs::path& dir,
                            const ProtocolOptions& given, const Embedder& embedder,
                            const Detector& detector) {
  check_options(protocol, given);
  ProtocolOptions options = given;
  options.embed.flip_average = options.embedder.flip_average;
  ProtocolOutput out;
  if (protocol == "retrieval")
    out = run_retrieval(dir, options, embedder, detector);
  else if (protocol == "grid")
    out = run_grid(dir, options, embedder, detector);
  else if (protocol == "openset")
    out = run_openset(dir, options, embedder, detector);
  else if (protocol == "verify")
    out = run_verify(dir, options, embedder, detector);
  else if (protocol == "scale")
    out = run_scale(dir, options, embedder, detector);
  else if (protocol == "cluster")
    out = run_cluster(dir, options, embedder, detector);
  else
    out = run_prompts(dir, options, embedder, detector);
  const EmbedderInfo& info = embedder.info();
  out.protocol = protocol;
  out.embedder = info.name;
  out.warning = random_weights_warning(info);
  out.json["protocol"] = protocol;
  out.json["folder"] = dir.string();
  out.json["embedder"] = embedder_json(info, options, detector);
  if (!out.warning.empty()) out.json["warning"] = out.warning;
  if (!out.report.empty()) out.json["report"] = out.report.string();
  out.text = with_warning(out.warning, "embedder: " + info.name + " (" + info.crop_style +
                                           (options.embedder.flip_average ? ", flip-average" : "") +
                                           "), detector: " + detector.name() + "\n" + out.text);
  if (!out.warning.empty()) out.summary.insert(out.summary.begin(), {"WARNING", out.warning});
  return out;
}

std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  auto line = [&](const std::vector<std::string>& row) {
    std::string s;
    for (std::size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      s += (i ? "  " : "") + cell + std::string(width[i] - cell.size(), ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  std::string out = line(header);
  std::vector<std::string> rule;
  for (std::size_t w : width) rule.push_back(std::string(w, '-'));
  out += line(rule);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string side_by_side(const std::vector<ProtocolOutput>& runs) {
  std::vector<std::string> metrics;
  for (const auto& run : runs) {
    for (const auto& [metric, value] : run.summary) {
      if (std::find(metrics.begin(), metrics.end(), metric) == metrics.end())
        metrics.push_back(metric);
    }
  }
  std::vector<std::string> header{"metric"};
  for (const auto& run : runs)
    header.push_back(run.embedder + (run.warning.empty() ? "" : " (RANDOM)"));
  std::vector<std::vector<std::string>> rows;
  for (const auto& metric : metrics) {
    std::vector<std::string> row{metric};
    for (const auto& run : runs) {
      std::string value = "-";
      for (const auto& [m, v] : run.summary)
        if (m == metric) value = v;
      if (metric == "WARNING" && value != "-") value = "RANDOM WEIGHTS";
      row.push_back(value);
    }
    rows.push_back(row);
  }
  std::string out = format_table(header, rows);
  for (const auto& run : runs) {
    if (!run.warning.empty()) out += run.embedder + ": " + run.warning + "\n";
  }
  return out;
}

}  // namespace clipface::eval
