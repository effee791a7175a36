//! Which models the image tasks run on: a2x's robust CIFAR-10 model at 32×32 (the paper's
//! robust-model setting, issue #6) or an ImageNet model of the zoo at its own size with its
//! judge of another family (issue #33). Everything the two differ in is asked of this type, so
//! the page's code is one for both.

use crate::engine::imagenet_tasks;
use crate::engine::tasks::{Task, TaskSettings};
use crate::models::manifest::Manifest;
use crate::session::from_link::CIFAR_TASK_MODEL;
use crate::session::transport::ModelFiles;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskSet {
    /// The robust CIFAR-10 model, the standard one as its judge, the class Gaussians.
    Cifar,
    /// An ImageNet model of the zoo by id (`squeezenet`), judged by `models::judge_of` it.
    ImageNet(String),
}

impl TaskSet {
    /// The set a link's (or a kept draft's) model names.
    pub fn of_model(model: &str) -> TaskSet {
        if model == CIFAR_TASK_MODEL {
            TaskSet::Cifar
        } else {
            TaskSet::ImageNet(model.to_string())
        }
    }

    pub fn is_imagenet(&self) -> bool {
        matches!(self, TaskSet::ImageNet(_))
    }

    /// The model's id, as links name it.
    pub fn model(&self) -> &str {
        match self {
            TaskSet::Cifar => CIFAR_TASK_MODEL,
            TaskSet::ImageNet(id) => id,
        }
    }

    /// The model's input side.
    pub fn side(&self) -> usize {
        match self {
            TaskSet::Cifar => crate::bundled::TASK_SIDE as usize,
            TaskSet::ImageNet(id) => crate::models::imagenet_input_size(id).unwrap_or(crate::models::squeezenet::INPUT_SIZE),
        }
    }

    /// The sketch canvas is this many times the seed's side (a steady hand at 32 px is
    /// impossible; at an ImageNet model's side the canvas is the seed).
    pub fn sketch_scale(&self) -> u32 {
        match self {
            TaskSet::Cifar => crate::bundled::SKETCH_SCALE,
            TaskSet::ImageNet(_) => 1,
        }
    }

    /// How much larger the pictures are shown (and saved) than the model sees them.
    pub fn enlarge(&self) -> u32 {
        match self {
            TaskSet::Cifar => 8,
            TaskSet::ImageNet(_) => 1,
        }
    }

    pub fn classes(&self) -> usize {
        match self {
            TaskSet::Cifar => crate::models::resnet::CLASSES,
            TaskSet::ImageNet(_) => 1000,
        }
    }

    pub fn class_name(&self, class: usize) -> String {
        crate::session::class_name(self.classes(), class)
    }

    /// The task's defaults on these models.
    pub fn defaults(&self, task: Task) -> TaskSettings {
        match self {
            TaskSet::Cifar => task.defaults(),
            TaskSet::ImageNet(_) => imagenet_tasks::defaults(task),
        }
    }

    /// The attacked model's name and its judge's, as the manifest gives them.
    pub fn model_names(&self, manifest: &Manifest) -> (String, String) {
        match self {
            TaskSet::Cifar => ("robust ResNet-9".into(), "standard ResNet-9".into()),
            TaskSet::ImageNet(id) => {
                let name = |id: &str| manifest.model(id).map_or(id.to_string(), |m| m.name.clone());
                (name(id), name(crate::models::judge_of(id)))
            }
        }
    }

    /// The files a run needs, as the manifest lists them (the worker loads them).
    pub fn model_files(&self, manifest: &Manifest) -> Result<ModelFiles, String> {
        match self {
            TaskSet::Cifar => {
                let robust = manifest.trained(CIFAR_TASK_MODEL).ok_or("the manifest lists no cifar-robust model")?.clone();
                let standard = manifest.trained("cifar-standard").ok_or("the manifest lists no cifar-standard model")?.clone();
                let gaussians = robust.gaussians.clone().ok_or("the manifest names no Gaussians for cifar-robust")?;
                Ok(ModelFiles::Tasks { robust, standard, gaussians })
            }
            TaskSet::ImageNet(id) => {
                let model = manifest.model(id).ok_or(format!("the manifest lists no model `{id}`"))?.clone();
                let judge_id = crate::models::judge_of(id);
                let judge = manifest.model(judge_id).ok_or(format!("the manifest lists no model `{judge_id}` (the judge)"))?.clone();
                Ok(ModelFiles::ImageNetTask { model, judge })
            }
        }
    }

    /// The attacked model's id and weights' sha256, for a link.
    pub fn weights(&self, manifest: &Manifest) -> Option<(String, String)> {
        match self {
            TaskSet::Cifar => manifest.trained(CIFAR_TASK_MODEL).map(|e| (e.id.clone(), e.sha256.clone())),
            TaskSet::ImageNet(id) => manifest.model(id).map(|e| (e.id.clone(), e.sha256.clone())),
        }
    }

    /// The prefix of what the page keeps for a reload (the CIFAR-10 keys are those of before).
    pub fn saved_prefix(&self) -> String {
        match self {
            TaskSet::Cifar => "tasks".into(),
            TaskSet::ImageNet(id) => format!("imagenet-tasks-{id}"),
        }
    }
}
