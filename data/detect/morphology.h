// Binary morphology with a square (2r+1)x(2r+1) structuring element (our own implementation).
// Masks are (height, width) row-major uint8, nonzero = set; outputs are 0/1.
// Border convention (as OpenCV's defaults): pixels outside the image never add to a dilation and never
// remove from an erosion, so a closing does not eat objects that touch the border.
// Square elements are separable: a row pass then a column pass, O(1) per pixel whatever r is.
#pragma once
#include <cstdint>
#include <vector>

namespace ssmtl {

std::vector<uint8_t> dilate(const std::vector<uint8_t>& mask, int width, int height, int radius);
std::vector<uint8_t> erode(const std::vector<uint8_t>& mask, int width, int height, int radius);
// Closing = dilation then erosion: fills gaps and holes narrower than 2r+1 pixels.
std::vector<uint8_t> close_mask(const std::vector<uint8_t>& mask, int width, int height, int radius);

}  // namespace ssmtl
