TestVideoFile = {};

% Test001
TestVideoFile{end+1}.gt_frame = [2:3];
% Test002: two ranges
TestVideoFile{end+1}.gt_frame = [1, 3:3];
