//! Per-channel mean and standard deviation of the training images (pixel values 0–255), the
//! statistics every data set is normalised with. Sums are kept as integers, so that images added
//! in any order, on any number of threads, give the same figures.

/// Running sums of the pixel values (and their squares) of each of the three colour planes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelSums {
    sum: [u64; 3],
    sum_sq: [u64; 3],
    /// Pixels per channel so far.
    count: u64,
}

impl ChannelSums {
    /// Add one image of three planes (red, green, blue) of `plane` pixels each.
    pub fn add(&mut self, image: &[u8], plane: usize) {
        for (c, values) in image.chunks_exact(plane).take(3).enumerate() {
            for &v in values {
                self.sum[c] += v as u64;
                self.sum_sq[c] += (v as u64) * (v as u64);
            }
        }
        self.count += plane as u64;
    }

    /// Add one image of interleaved RGB pixels (`RGBRGB…`).
    pub fn add_rgb(&mut self, pixels: &[u8]) {
        for rgb in pixels.chunks_exact(3) {
            for (c, &v) in rgb.iter().enumerate() {
                self.sum[c] += v as u64;
                self.sum_sq[c] += (v as u64) * (v as u64);
            }
        }
        self.count += (pixels.len() / 3) as u64;
    }

    /// The sums of two parts of a set.
    pub fn merge(self, other: ChannelSums) -> ChannelSums {
        let add = |a: [u64; 3], b: [u64; 3]| [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
        ChannelSums {
            sum: add(self.sum, other.sum),
            sum_sq: add(self.sum_sq, other.sum_sq),
            count: self.count + other.count,
        }
    }

    /// Mean and sample standard deviation (as `torch.std`) of each channel; a floor keeps a
    /// constant channel from dividing by zero.
    pub fn finish(&self) -> ([f64; 3], [f64; 3]) {
        let n = self.count.max(1) as f64;
        let mut mean = [0.0; 3];
        let mut std = [0.0; 3];
        for c in 0..3 {
            mean[c] = self.sum[c] as f64 / n;
            let var = (self.sum_sq[c] as f64 / n - mean[c] * mean[c]).max(0.0);
            std[c] = (var * n / (n - 1.0).max(1.0)).sqrt().max(1e-6);
        }
        (mean, std)
    }
}

/// The statistics of `images`, consecutive images of three planes of `plane` pixels each.
pub fn channel_stats(images: &[u8], plane: usize) -> ([f64; 3], [f64; 3]) {
    let mut sums = ChannelSums::default();
    for image in images.chunks_exact(3 * plane) {
        sums.add(image, plane);
    }
    sums.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_parts_equal_the_whole() {
        let images: Vec<u8> = (0..5 * 3 * 16).map(|i| (i * 37 % 256) as u8).collect();
        let (mut a, mut b) = (ChannelSums::default(), ChannelSums::default());
        for (i, image) in images.chunks_exact(48).enumerate() {
            if i % 2 == 0 {
                a.add(image, 16)
            } else {
                b.add(image, 16)
            }
        }
        assert_eq!(a.merge(b).finish(), channel_stats(&images, 16));
        // The same pixels interleaved count the same.
        let mut rgb = ChannelSums::default();
        for image in images.chunks_exact(48) {
            let interleaved: Vec<u8> = (0..16).flat_map(|i| [image[i], image[16 + i], image[32 + i]]).collect();
            rgb.add_rgb(&interleaved);
        }
        assert_eq!(rgb, a.merge(b));
        let (mean, std) = channel_stats(&[7; 3 * 4], 4);
        assert_eq!((mean, std), ([7.0; 3], [1e-6; 3]), "a constant image");
    }
}
