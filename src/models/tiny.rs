//! `TinyCnn`: a small convolutional classifier with seeded random (He-initialised) weights.
//!
//! It is not a trained model and explains nothing about the world. It exists so the engine can be
//! exercised end to end — by the tests and by `a2x explain --model tiny` — on any backend, at a
//! size a CPU runs in milliseconds, before and beside the real models of the model zoo.
//!
//! Architecture: x ∈ \[0, 1\] → 2x − 1 → conv 3→16, 3×3, stride 2, pad 1 → tanh → conv 16→32, 3×3,
//! stride 2, pad 1 → tanh (the convolutional base) → global average pool → linear 32→classes.
//! tanh keeps the function smooth, so finite differences check its gradients exactly.

use crate::engine::sampling::{gaussian, Rng};
use crate::engine::Classifier;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

pub struct TinyCnn {
    conv1: (Tensor<4>, Tensor<1>),
    conv2: (Tensor<4>, Tensor<1>),
    linear: (Tensor<2>, Tensor<1>),
    size: usize,
    classes: usize,
}

fn random<const D: usize>(rng: &mut Rng, shape: [usize; D], std: f32, device: &Device) -> Tensor<D> {
    let values: Vec<f32> = (0..shape.iter().product()).map(|_| gaussian(rng) * std).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

impl TinyCnn {
    pub const CHANNELS: [usize; 2] = [16, 32];

    /// A `size`×`size` RGB classifier over `classes` classes, weights drawn from `seed`.
    pub fn random(size: usize, classes: usize, seed: u64, device: &Device) -> Self {
        let mut rng = Rng::new(seed);
        let [c1, c2] = Self::CHANNELS;
        let he = |fan_in: usize| (2.0 / fan_in as f32).sqrt();
        TinyCnn {
            conv1: (random(&mut rng, [c1, 3, 3, 3], he(27), device), random(&mut rng, [c1], 0.1, device)),
            conv2: (random(&mut rng, [c2, c1, 3, 3], he(c1 * 9), device), random(&mut rng, [c2], 0.1, device)),
            // A larger output scale than He's, so that class probabilities can become confident.
            linear: (random(&mut rng, [c2, classes], 4.0 * he(c2), device), random(&mut rng, [classes], 0.1, device)),
            size,
            classes,
        }
    }
}

impl Classifier for TinyCnn {
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        let options = || ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let x = images * 2.0 - 1.0;
        let x = conv2d(x, self.conv1.0.clone(), Some(self.conv1.1.clone()), options()).tanh();
        conv2d(x, self.conv2.0.clone(), Some(self.conv2.1.clone()), options()).tanh()
    }

    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self.features(images);
        let [n, c, _, _] = features.dims();
        let pooled = features.mean_dims(&[2, 3]).reshape([n, c]);
        pooled.matmul(self.linear.0.clone()) + self.linear.1.clone().reshape([1, self.classes]).expand([n, self.classes])
    }

    fn input_shape(&self) -> [usize; 3] {
        [3, self.size, self.size]
    }

    fn num_classes(&self) -> usize {
        self.classes
    }
}
