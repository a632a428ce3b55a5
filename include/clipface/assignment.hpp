// Minimum-cost one-to-one assignment (the Hungarian method), for linking detections to tracks and
// ground truth to hypotheses.
#pragma once

#include <vector>

namespace clipface {

// cost[i][j] for rows i (e.g. tracks) and columns j (e.g. detections); any rectangular shape.
// Pairs with cost > max_cost are never made. Among the rest, the result minimises the total cost
// of the pairs made plus max_cost for each pair not made, as lap.lapjv with cost_limit (which
// ByteTrack uses) does: a pair is worth making when its cost is below max_cost. Returns each
// row's column, or -1.
std::vector<int> min_cost_assignment(const std::vector<std::vector<float>>& cost, float max_cost);

}  // namespace clipface
